import Foundation
import Models

/// Refuses an output path that cannot be written, before any work starts: its folder
/// must exist and be writable, and the path must not be a folder.
func checkWritable(_ path: String) throws {
  var isFolder: ObjCBool = false
  if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
    throw ModelError.badInput("Cannot write \(path): it is a folder; give a file name.")
  }
  let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
  guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
    throw ModelError.badInput("Cannot write \(path): the folder \(folder) does not exist.")
  }
  guard FileManager.default.isWritableFile(atPath: folder) else {
    throw ModelError.badInput("Cannot write \(path): the folder \(folder) is not writable.")
  }
}

/// Writes `text` to `path` atomically (a temporary file renamed into place).
func writeReport(_ text: String, to path: String) throws {
  do {
    try text.write(toFile: path, atomically: true, encoding: .utf8)
  } catch {
    throw ModelError.badInput(
      "Cannot write \(path): \((error as NSError).localizedFailureReason ?? "\(error)")")
  }
}
