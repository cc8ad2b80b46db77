import ArgumentParser
import Foundation
import Models
import Pipeline

/// Refuses an output path that cannot be written, before any work starts: its folder
/// must exist and be writable, the path must not be a folder, and it must not be one of
/// `inputs` or a file inside one of them (a model folder: a usage error).
func checkWritable(_ path: String, inputs: [String?] = []) throws {
  if let input = inputs.compactMap({ $0 }).first(where: { isInside(path, $0) }) {
    throw ValidationError(
      input == path
        ? "Cannot write \(path): it is an input of this command; give another file name."
        : "Cannot write \(path): it is a file of the input \(input); give another file name.")
  }
  var isFolder: ObjCBool = false
  if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
    throw ValidationError("Cannot write \(path): it is a folder; give a file name.")
  }
  let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
  guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
    throw OutputError.cannotCreate(path: path, reason: "the folder \(folder) does not exist")
  }
  guard FileManager.default.isWritableFile(atPath: folder) else {
    throw OutputError.cannotCreate(path: path, reason: "the folder \(folder) is not writable")
  }
}

/// Writes `text` to `path` atomically (a temporary file renamed into place).
func writeReport(_ text: String, to path: String) throws {
  do {
    try text.write(toFile: path, atomically: true, encoding: .utf8)
  } catch {
    throw OutputError.cannotCreate(
      path: path, reason: (error as NSError).localizedFailureReason ?? "\(error)")
  }
}

/// Whether the existing file `path` is `input` (the same file, through any link) or lies
/// inside the folder `input`.
private func isInside(_ path: String, _ input: String) -> Bool {
  var output = stat()
  var given = stat()
  guard input != "-", stat(path, &output) == 0, stat(input, &given) == 0 else { return false }
  if output.st_dev == given.st_dev && output.st_ino == given.st_ino { return true }
  guard (given.st_mode & S_IFMT) == S_IFDIR else { return false }
  func resolved(_ path: String) -> String { URL(fileURLWithPath: path).resolvingSymlinksInPath().path }
  return resolved(path).hasPrefix(resolved(input) + "/")
}

extension ModelOptions {
  /// The file or folder the model is read from (nil when the name resolves to none).
  var inputPath: String? { try? ModelZoo.resolve(model).path }
}
