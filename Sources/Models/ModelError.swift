import Foundation

/// Everything that can be wrong with a model, a weight file or an input, each
/// case carrying the file, key or value at fault.
public enum ModelError: Error, Equatable, CustomStringConvertible {
  /// The file or folder does not exist or cannot be read.
  case missingFile(path: String)
  /// A folder lacks a file the model needs.
  case missingInFolder(folder: String, file: String)
  /// Text that should be JSON is not.
  case malformedJSON(file: String, reason: String)
  /// A safetensors file whose structure is broken.
  case malformedSafetensors(file: String, reason: String)
  /// A GGUF file whose structure is broken (the reason names the key, tensor or offset).
  case malformedGGUF(file: String, reason: String)
  /// A tensor the model needs is absent.
  case missingTensor(file: String, key: String)
  /// A tensor has the wrong shape.
  case wrongShape(file: String, key: String, expected: [Int], found: [Int])
  /// A tensor holds NaN or infinity.
  case nonFiniteWeights(file: String, key: String)
  /// A tensor is stored in a dtype xai cannot use as weights.
  case unsupportedDtype(file: String, key: String, dtype: String)
  /// A configuration value is missing or invalid.
  case badConfig(file: String, key: String, reason: String)
  /// The configuration names an architecture xai does not know.
  case unknownModelType(file: String, modelType: String)
  /// The file holds a model of another kind than the one asked for.
  case wrongModelKind(file: String, found: ModelKind, modelType: String, expected: ModelKind)
  /// User input (text, graph, option value) that cannot be used.
  case badInput(String)

  /// Whether the error is a file or folder that is not there (rather than bad data).
  public var isMissingFile: Bool {
    switch self {
    case .missingFile, .missingInFolder: true
    default: false
    }
  }

  public var description: String {
    switch self {
    case .missingFile(let path): "\(path): no such file or folder."
    case .missingInFolder(let folder, let file): "\(folder): the model folder has no \(file)."
    case .malformedJSON(let file, let reason): "\(file): not valid JSON (\(reason))."
    case .malformedSafetensors(let file, let reason): "\(file): broken safetensors file: \(reason)."
    case .malformedGGUF(let file, let reason): "\(file): broken GGUF file: \(reason)."
    case .missingTensor(let file, let key): "\(file): tensor '\(key)' is missing."
    case .wrongShape(let file, let key, let expected, let found):
      "\(file): tensor '\(key)' has shape \(found), expected \(expected)."
    case .nonFiniteWeights(let file, let key): "\(file): tensor '\(key)' contains NaN or infinity."
    case .unsupportedDtype(let file, let key, let dtype) where dtype.hasPrefix(GGMLType.dtypePrefix):
      "\(file): tensor '\(key)' has \(dtype); xai reads GGUF weights of type \(GGMLType.dequantizableNames)."
    case .unsupportedDtype(let file, let key, let dtype):
      "\(file): tensor '\(key)' has dtype \(dtype); xai reads F32, F16 and BF16 weights."
    case .badConfig(let file, let key, let reason): "\(file): config key '\(key)' \(reason)."
    case .unknownModelType(let file, let modelType):
      "\(file): unknown model_type '\(modelType)' (xai knows \(ModelKind.knownModelTypes.joined(separator: ", ")))."
    case .wrongModelKind(let file, let found, let modelType, let expected):
      "\(file) holds \(found.withArticle) (\(modelType)), not \(expected.withArticle)."
    case .badInput(let message): message
    }
  }
}

/// The bytes of the file at `path`: `missingFile` when nothing is there, a clear
/// `badInput` when it is a folder (or cannot be read), so that a message never claims
/// a file is absent when it is there.
public func readFileContents(_ path: String) throws -> Data {
  var isFolder: ObjCBool = false
  guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
    throw ModelError.missingFile(path: path)
  }
  guard !isFolder.boolValue else { throw ModelError.badInput("\(path) is a folder; give a file.") }
  guard let data = FileManager.default.contents(atPath: path) else {
    throw ModelError.badInput("\(path) cannot be read (permissions?).")
  }
  return data
}
