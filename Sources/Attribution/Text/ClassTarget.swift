import Foundation
import Models

/// Which class's logit to explain.
public enum ClassTarget: Sendable, Equatable, Hashable {
  /// The class the model predicts.
  case predicted
  /// A class by index.
  case index(Int)
  /// A class by its label (`id2label`).
  case label(String)

  /// The class index this target names for a model with `labels` and these `logits`.
  public func index(labels: [String], logits: [Float]) throws -> Int {
    switch self {
    case .predicted:
      return predictedClass(logits)
    case .index(let index):
      guard labels.indices.contains(index) else {
        throw ModelError.badInput(
          "Target class \(index) does not exist; the model has classes 0…\(labels.count - 1) (\(labels.joined(separator: ", ")))."
        )
      }
      return index
    case .label(let name):
      guard let index = labels.firstIndex(where: { $0.lowercased() == name.lowercased() }) else {
        throw ModelError.badInput(
          "Target '\(name)' is not a label of the model (\(labels.joined(separator: ", "))).")
      }
      return index
    }
  }

  /// Reads a class written as an integer index or a label name.
  public init(_ text: String) {
    if let index = Int(text) { self = .index(index) } else { self = .label(text) }
  }
}

/// The index of the largest logit (the first of equal ones; 0 for none): the predicted class.
public func predictedClass(_ logits: [Float]) -> Int {
  logits.indices.max { logits[$0] < logits[$1] } ?? 0
}

/// The class a data set's label names: a label of the model (case-insensitive) or a
/// class index written as digits (`1`, as the Hugging Face SST-2 and Rotten Tomatoes
/// sets give it); nil when it names no class of the model.
public func classIndex(ofLabel given: String, labels: [String]) -> Int? {
  let trimmed = given.trimmingCharacters(in: .whitespaces)
  if let index = labels.firstIndex(where: { $0.lowercased() == trimmed.lowercased() }) { return index }
  if !trimmed.isEmpty, trimmed.allSatisfy(\.isASCII), trimmed.allSatisfy(\.isNumber),
    let index = Int(trimmed),
    labels.indices.contains(index)
  {
    return index
  }
  if let number = Double(trimmed), number == number.rounded(), labels.indices.contains(Int(number)) {
    return Int(number)
  }
  return nil
}
