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
  /// Loads a Vision Transformer folder, warning about weights it never reads; another
  /// kind is a usage error, since --image asked for an image model.
  func loadImageModel() throws -> ImageModel {
    let (name, _, loaded) = try load()
    return try imageModel(loaded, name: name)
  }

  /// The image model `loaded` is; another kind is a usage error, since --image asked for one.
  func imageModel(_ loaded: LoadedModel, name: String) throws -> ImageModel {
    guard case .image(let model) = loaded else {
      throw ValidationError(
        "--image needs an image model (such as --model vit-digits); \(name) is \(loaded.kind.withArticle) (\(loaded.architecture))."
      )
    }
    return model
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
