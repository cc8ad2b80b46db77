import Foundation

/// The shipped models (`samples/models/NAME/`) and any folder the user adds.
public enum ModelZoo {
  /// The model `xai` uses when none is named.
  public static let defaultModel = "minilm-rt-sentiment"

  /// One model in the zoo, described from its configuration without loading weights.
  public struct Entry: Sendable, Equatable {
    /// Zoo name (folder or file name).
    public let name: String
    /// Where the model lives.
    public let path: String
    /// `model_type` from the configuration.
    public let modelType: String
    /// Class names (`id2label`), when the configuration gives them.
    public let labels: [String]
    /// Bytes on disk (all files of a folder).
    public let bytes: Int
    /// Held-out accuracy recorded with the model, if any.
    public let testAccuracy: Double?
  }

  /// Folders searched for models by name, in order: `$XAI_MODELS` (colon-separated),
  /// `share/xai/models` beside the executable's `bin` folder (`make install`), the
  /// `samples/models` of the checkout the executable was built in (and its `models`, where
  /// `make models` puts what it fetches), and `samples/models`
  /// under the working directory. The executable is found through its real path, so
  /// `xai` called through `PATH` or a symbolic link finds its models from any folder.
  public static func searchFolders() -> [String] {
    var folders: [String] = []
    if let configured = ProcessInfo.processInfo.environment["XAI_MODELS"] {
      folders += configured.split(separator: ":").map(String.init)
    }
    if let executable = executablePath() {
      let binFolder = URL(fileURLWithPath: executable).deletingLastPathComponent()
      let installed = binFolder.deletingLastPathComponent().appendingPathComponent("share/xai/models").path
      if FileManager.default.fileExists(atPath: installed) { folders.append(installed) }
      var directory = binFolder
      for _ in 0..<6 {
        let candidate = directory.appendingPathComponent("samples/models").path
        if FileManager.default.fileExists(atPath: candidate) {
          folders.append(candidate)
          // Models `make models` fetched (not committed).
          let fetched = directory.appendingPathComponent("models").path
          if FileManager.default.fileExists(atPath: fetched) { folders.append(fetched) }
          break
        }
        directory.deleteLastPathComponent()
      }
    }
    folders.append(
      URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("samples/models")
        .path)
    var seen = Set<String>()
    return folders.filter { seen.insert(URL(fileURLWithPath: $0).standardized.path).inserted }
  }

  /// The running executable's real path (symbolic links resolved): `/proc/self/exe`
  /// on Linux, Foundation's answer elsewhere.
  static func executablePath() -> String? {
    if let linked = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
      return linked
    }
    return (Bundle.main.executablePath ?? CommandLine.arguments.first).map {
      URL(fileURLWithPath: $0).resolvingSymlinksInPath().path
    }
  }

  /// The path of a model given by zoo name or by path (nil: the default model).
  public static func resolve(_ nameOrPath: String?) throws -> (name: String, path: String) {
    let requested = nameOrPath ?? defaultModel
    if FileManager.default.fileExists(atPath: requested) {
      return (URL(fileURLWithPath: requested).deletingPathExtension().lastPathComponent, requested)
    }
    for folder in searchFolders() {
      for candidate in [requested, requested + ".json", requested + ".gguf"] {
        let path = (folder as NSString).appendingPathComponent(candidate)
        if FileManager.default.fileExists(atPath: path) { return (requested, path) }
      }
    }
    throw ModelError.missingFile(
      path: "\(requested) (neither a path nor a model in \(searchFolders().joined(separator: ", ")))")
  }

  /// Every model in the search folders and in `extraFolders`; an extra folder that is
  /// itself a model (a Hugging Face folder, a JSON weight file) is listed as that model.
  public static func entries(extraFolders: [String] = []) -> [Entry] {
    var candidates: [String] = []
    for folder in searchFolders() + extraFolders {
      if extraFolders.contains(folder), describe(folder) != nil {
        candidates.append(folder)
        continue
      }
      let items = (try? FileManager.default.contentsOfDirectory(atPath: folder))?.sorted() ?? []
      candidates += items.map { (folder as NSString).appendingPathComponent($0) }
    }
    var seen = Set<String>()
    return candidates.compactMap { path in
      guard let entry = describe(path), seen.insert(URL(fileURLWithPath: path).standardized.path).inserted
      else { return nil }
      return entry
    }
  }

  /// The JSON weight file of a model path: the path itself, or `model.json` inside a folder.
  public static func weightFile(_ path: String) -> String {
    var isFolder: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
      return (path as NSString).appendingPathComponent("model.json")
    }
    return path
  }

  /// Describes a model folder or JSON weight file from its configuration, or nil
  /// when `path` is not a model.
  public static func describe(_ path: String) -> Entry? {
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { return nil }
    let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
    let config: JSONNode
    let bytes: Int
    if isFolder.boolValue {
      let configPath = (path as NSString).appendingPathComponent("config.json")
      if let document = try? JSONDocument.read(configPath) {
        config = document.rootNode
      } else if let document = try? JSONDocument.read(weightFile(path)),
        let inner = document.rootNode["config"]
      {
        config = inner
      } else {
        return nil
      }
      let files = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
      bytes = files.reduce(0) { total, file in
        let attributes = try? FileManager.default.attributesOfItem(
          atPath: (path as NSString).appendingPathComponent(file))
        return total + ((attributes?[.size] as? NSNumber)?.intValue ?? 0)
      }
    } else if path.lowercased().hasSuffix(".gguf") {
      guard let file = try? GGUFFile(path: path), let architecture = file.string("general.architecture") else {
        return nil
      }
      let bytes = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
      return Entry(name: name, path: path, modelType: architecture, labels: [], bytes: bytes, testAccuracy: nil)
    } else {
      guard path.hasSuffix(".json"), let document = try? JSONDocument.read(path),
        let inner = document.rootNode["config"]
      else { return nil }
      config = inner
      bytes = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
    }
    guard let modelType = config["model_type"]?.string else { return nil }
    var labels: [String] = []
    if let table = config["id2label"], table.isObject {
      labels = table.keys.sorted { (Int($0) ?? 0) < (Int($1) ?? 0) }.compactMap { table[$0]?.string }
    }
    return Entry(
      name: name, path: path, modelType: modelType, labels: labels, bytes: bytes,
      testAccuracy: config["xai"]?["test_accuracy"]?.double)
  }
}
