import ArgumentParser
import Attribution
import Foundation
import Models
import Render
import Tensor

extension ImageBaseline: ExpressibleByArgument {}

/// `--image` and `--baseline`: the images to explain and the baseline image of
/// Integrated Gradients on them.
struct ImageOptions: ParsableArguments {
  @Option(
    name: .customLong("image"), parsing: .singleValue,
    help: ArgumentHelp("An image (PNG or JPEG) for an image model; repeat for several.", valueName: "file"))
  var files: [String] = []

  @Option(
    name: .long,
    help:
      "Integrated Gradients on images: start from a black image, each channel's mean, or a blur (σ = side/4)."
  )
  var baseline: ImageBaseline?

  /// Refuses the baseline where it does nothing.
  func check() throws {
    if baseline != nil && files.isEmpty {
      throw ValidationError(
        "--baseline chooses the image baseline of Integrated Gradients; texts start from [PAD].")
    }
  }
}

extension ModelOptions {
  /// Whether the model named (or the default) is an image model (`model_type: "vit"`).
  var isImageModel: Bool {
    guard let (_, path) = try? ModelZoo.resolve(model) else { return false }
    return ModelZoo.describe(path)?.modelType == "vit"
  }

  /// Loads a Vision Transformer folder, warning about weights it never reads.
  func loadImageModel() throws -> ImageModel {
    if let threads { BLAS.threads = threads }
    let (name, path) = try ModelZoo.resolve(model)
    if let type = ModelZoo.describe(path)?.modelType, type != "vit" {
      throw ValidationError(
        "--image needs an image model (model_type vit, such as --model vit-digits); \(name) is a \(type) model."
      )
    }
    let loaded = try ImageModel.load(path: path, name: name)
    warnAboutUnusedWeights(loaded.unusedWeights, path: path, architecture: "ViT")
    return loaded
  }
}

/// Reads and prepares each image file; one that cannot be read is reported on stderr
/// (and counted) and the others go on.
func prepareImages(_ files: [String], model: ImageModel) -> (images: [PreparedImage], failure: Int32?) {
  var images: [PreparedImage] = []
  var failure: Int32?
  for file in files {
    do {
      images.append(try model.prepare(file: file))
    } catch let error as ModelError {
      printError("xai: \(error.description)")
      failure = failure ?? ExitStatus.code(for: error) ?? ExitStatus.badData
    } catch {
      printError("xai: \(file): \(error)")
      failure = failure ?? ExitStatus.badData
    }
  }
  return (images, failure)
}

/// Explains every image with each method (one batched pass per method); per image,
/// one explanation per method.
func explainImages(
  _ images: [PreparedImage], model: ImageModel, methods: [any AttributionMethod], target: ClassTarget,
  baseline: ImageBaseline
) throws -> [[ImageExplanation]] {
  guard !images.isEmpty else { return [] }
  let byMethod = try methods.map { method in
    try model.explain(
      images, method: method, targets: Array(repeating: target, count: images.count), baseline: baseline)
  }
  return images.indices.map { index in byMethod.map { $0[index] } }
}
