import ArgumentParser
import Foundation
import Models
import Render

/// `xai models`: the zoo with type, labels, size and recorded accuracy.
struct ModelsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "models",
    abstract: "List the models xai can load by name.",
    discussion: """
      Lists the shipped models (samples/models), the folders in $XAI_MODELS and any \
      folder given here, with each model's type, labels, size on disk and the held-out \
      accuracy recorded when it was trained. A model is named by --model NAME elsewhere.
      """)

  @Argument(help: "Extra folders to list models from.")
  var folders: [String] = []

  func run() throws {
    try reportingErrors {
      for folder in folders where !FileManager.default.fileExists(atPath: folder) {
        throw ModelError.missingFile(path: folder)
      }
      let entries = ModelZoo.entries(extraFolders: folders)
      if entries.isEmpty {
        print(terminalSafe("No models found in \(ModelZoo.searchFolders().joined(separator: ", ")))."))
        return
      }
      let rows = entries.map { entry -> [String] in
        [
          entry.name + (entry.name == ModelZoo.defaultModel ? " (default)" : ""), entry.modelType,
          entry.labels.joined(separator: ","), formatBytes(entry.bytes),
          entry.testAccuracy.map { String(format: "%.3f", $0) } ?? "-", entry.path,
        ].map { terminalSafe($0) }
      }
      let header = ["NAME", "TYPE", "LABELS", "SIZE", "ACCURACY", "PATH"]
      let widths = (0..<header.count).map { column in
        ([header] + rows).map { $0[column].count }.max() ?? 0
      }
      for row in [header] + rows {
        print(
          zip(row, widths).enumerated().map { index, cell in
            index == row.count - 1 ? cell.0 : cell.0.padding(toLength: cell.1, withPad: " ", startingAt: 0)
          }.joined(separator: "  "))
      }
    }
  }
}

/// 1.2 MB / 340 KB style sizes.
func formatBytes(_ bytes: Int) -> String {
  if bytes >= 1_000_000 { return String(format: "%.1f MB", Double(bytes) / 1e6) }
  if bytes >= 1_000 { return String(format: "%.0f KB", Double(bytes) / 1e3) }
  return "\(bytes) B"
}
