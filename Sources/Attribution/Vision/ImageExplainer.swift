// Image relevance at two levels, from one pass of any method:
//   tokens  R_t = the method's relevance at the embedding-block output ([CLS], then
//           patches row by row), conserved as for text;
//   pixels  the linear patch projection carries it back: ∂f/∂x = Wᵀ·∂f/∂e_patch, and
//           R_{y,x} = Σ_c x_c·∂f/∂x_c (Gradient×Input methods; their rules shape ∂f/∂e),
//           Σ_c (x − x̄)_c·∫∂f/∂x_c (Integrated Gradients, x̄ the baseline image) or
//           ‖∂f/∂x‖₂ over channels (saliency). Σ pixels = Σ patches − (b + positions)·∂f/∂e.
import Foundation
import Models
import Tensor

/// The attribution of one image: prediction, target, relevance of [CLS], of each patch
/// and of each pixel, and conservation.
public struct ImageExplanation: Sendable {
  /// The model that was explained.
  public let modelName: String
  /// The method and its rules.
  public let method: MethodSummary
  /// The image file.
  public let source: String
  /// The converted and resized 8-bit image the model saw.
  public let shown: DecodedImage
  /// Index of the explained class.
  public let targetIndex: Int
  /// Every class label, by index.
  public let labels: [String]
  /// The logits of every class.
  public let logits: [Float]
  /// Softmax of the logits.
  public let probabilities: [Float]
  /// Relevance of the [CLS] position.
  public let classTokenRelevance: Float
  /// Relevance of each patch, row by row (patchesPerSide²).
  public let patchRelevance: [Float]
  /// Patches per side of the grid.
  public let patchesPerSide: Int
  /// Relevance of each pixel of the model input, row by row (imageSize²).
  public let pixelRelevance: [Float]
  /// Σ R over [CLS] and the patches against the target logit.
  public let conservation: Conservation
  /// Perturbation methods: the patches, their relevance and the evaluations used.
  public let perturbation: PerturbationOutcome?

  /// Label of the explained class.
  public var targetLabel: String { labels[targetIndex] }
  /// Index of the predicted class.
  public var predictedIndex: Int { predictedClass(logits) }
  /// Side of the model input in pixels.
  public var imageSize: Int { shown.width }
  /// Σ R over the pixels.
  public var sumPixels: Float { pixelRelevance.reduce(0, +) }
}

extension MethodKind {
  /// How this method's gradient at the pixels becomes pixel relevance.
  var pixelRule: PixelRule {
    switch self {
    case .gradient: .gradientNorm
    case .integratedGradients: .differenceTimesGradient
    case .lrp, .attnlrp, .gradxinput: .inputTimesGradient
    case .occlusion, .featureAblation, .shapley, .kernelShap, .lime: .patchValue
    }
  }
}

/// How a gradient at the pixels becomes one relevance per pixel.
enum PixelRule {
  /// Σ_c x_c·g_c.
  case inputTimesGradient
  /// Σ_c (x − x̄)_c·ḡ_c.
  case differenceTimesGradient
  /// ‖g‖₂ over channels.
  case gradientNorm
  /// No gradient: every pixel carries its patch's relevance (as Captum reports a
  /// perturbation method with one feature per patch).
  case patchValue
}

/// Image classifiers as an `Explainer`: patches are the units, the black image's pixels
/// remove one; path methods start from `baseline`.
public struct ImageExplainer: Explainer {
  /// The model.
  public let model: ImageModel
  /// Where Integrated Gradients starts.
  public let baseline: ImageBaseline
  /// Images in one batch of a method.
  public static let imagesPerBatch = 32

  /// The explainer of `model`.
  public init(model: ImageModel, baseline: ImageBaseline = .black) {
    self.model = model
    self.baseline = baseline
  }

  public var labels: [String] { model.labels }
  public var units: UnitKind { .patches }
  public func name(of method: any AttributionMethod) -> String { method.name }
  public func prepare(_ record: String) throws -> PreparedImage { try model.prepare(file: record) }

  public func batches(_ inputs: [PreparedImage], method: any AttributionMethod) -> [[Int]] {
    stride(from: 0, to: inputs.count, by: Self.imagesPerBatch).map {
      Array($0..<min($0 + Self.imagesPerBatch, inputs.count))
    }
  }

  public func explain(_ inputs: [PreparedImage], method: any AttributionMethod, targets: [ClassTarget]) throws
    -> [ImageExplanation]
  {
    try model.explain(inputs, method: method, targets: targets, baseline: baseline)
  }

  public func outputs(of explanation: ImageExplanation) -> [Float] { explanation.logits }
  public func unitRelevance(of explanation: ImageExplanation) -> [Float] { explanation.patchRelevance }
  public func units(of input: PreparedImage) -> [Int] { Array(0..<model.config.patchCount) }

  public func perturb(_ input: PreparedImage, removing positions: [Int]) throws -> PreparedImage {
    let black = model.baselineValues(for: input, kind: .black)
    let (side, patch) = (model.config.imageSize, model.config.patchSize)
    let perSide = side / patch
    var values = input.pixelValues
    for position in positions where (0..<(perSide * perSide)).contains(position) {
      let (top, left) = (position / perSide * patch, position % perSide * patch)
      for channel in 0..<model.config.channels {
        for row in top..<(top + patch) {
          let start = (channel * side + row) * side + left
          values.replaceSubrange(start..<(start + patch), with: black[start..<(start + patch)])
        }
      }
    }
    return PreparedImage(source: input.source, pixelValues: values, shown: input.shown)
  }
}

extension ImageModel {
  /// Explains `images[i]` for `targets[i]` with `method`, all in one batched pass (path
  /// methods start from `baseline`).
  public func explain(
    _ images: [PreparedImage], method: any AttributionMethod, targets: [ClassTarget],
    baseline: ImageBaseline = .black
  ) throws -> [ImageExplanation] {
    precondition(targets.count == images.count, "one target per image")
    let missing = method.missingOperations(in: body.ruleOperations)
    guard missing.isEmpty else { throw MissingOperationError(method: method.name, operations: missing) }
    let baselines = method.needsBaseline ? images.map { baselineValues(for: $0, kind: baseline) } : nil
    let batch = embedded(images, baselines: baselines)
    let side = config.patchesPerSide
    let grid = UnitLayout(groups: (1...config.patchCount).map { [$0] }, shape: [side, side])
    let input = AttributionInput(
      embeddings: batch.embeddings, keep: batch.keep, baseline: batch.baseline, keepsGradient: true,
      units: Array(repeating: grid, count: images.count), unitName: "patches")
    let rows = try method.attribute(network: body, input: input, targets: targets)
    let summary = MethodSummary(
      kind: method.kind, detached: method.rules.detached.filter(body.ruleOperations.contains))
    return try zip(images, rows).enumerated().map { index, item in
      let (image, row) = item
      guard (row.logits + row.relevance + [row.baselineLogit ?? 0]).allSatisfy(\.isFinite) else {
        throw ModelError.badInput(
          "\(path): the model's logits or relevance are not finite numbers (NaN or infinity) for \(image.source); its weights overflow float32."
        )
      }
      let pixels =
        method.kind.pixelRule == .patchValue
        ? patchPixels(Array(row.relevance.dropFirst()))
        : pixelRelevance(
          gradient: row.gradient!, pixels: image.pixelValues,
          baseline: baselines?[index] ?? [],
          rule: method.kind.pixelRule)
      return ImageExplanation(
        modelName: name, method: summary, source: image.source, shown: image.shown, targetIndex: row.target,
        labels: labels, logits: row.logits, probabilities: softmax(row.logits),
        classTokenRelevance: row.relevance[0], patchRelevance: Array(row.relevance.dropFirst()),
        patchesPerSide: config.patchesPerSide, pixelRelevance: pixels,
        conservation: Conservation(
          sumRelevance: row.relevance.reduce(0, +), targetLogit: row.logits[row.target],
          baselineLogit: row.baselineLogit),
        perturbation: row.perturbation)
    }
  }

  /// Every pixel of a patch given the patch's relevance [H·W].
  func patchPixels(_ patches: [Float]) -> [Float] {
    let (p, side, size) = (config.patchSize, config.patchesPerSide, config.imageSize)
    var relevance = [Float](repeating: 0, count: size * size)
    for y in 0..<(side * p) {
      for x in 0..<(side * p) { relevance[y * size + x] = patches[(y / p) * side + x / p] }
    }
    return relevance
  }

  /// Relevance per pixel [H·W] from the gradient at the embeddings [(N + 1)·D] of one
  /// image with pixel values and baseline [C, H, W].
  func pixelRelevance(gradient: [Float], pixels: [Float], baseline: [Float], rule: PixelRule) -> [Float] {
    let (n, d) = (config.patchCount, config.hiddenSize)
    let (c, p, side, size) = (config.channels, config.patchSize, config.patchesPerSide, config.imageSize)
    let patchGradient = Tensor(shape: [n, d], scalars: Array(gradient[d...]))
    // ∂f/∂patch values [N, C·P·P] = ∂f/∂e · W.
    let pixelGradient = Tensor.matmul(patchGradient, frontEnd.projection.weight).scalars
    var relevance = [Float](repeating: 0, count: size * size)
    let width = config.patchValues
    for patch in 0..<n {
      let (top, left) = (patch / side * p, patch % side * p)
      for i in 0..<p {
        for j in 0..<p {
          let pixel = (top + i) * size + left + j
          var total: Float = 0
          for channel in 0..<c {
            let g = pixelGradient[patch * width + (channel * p + i) * p + j]
            let x = pixels[channel * size * size + pixel]
            switch rule {
            case .inputTimesGradient: total += x * g
            case .differenceTimesGradient: total += (x - baseline[channel * size * size + pixel]) * g
            case .gradientNorm: total += g * g
            case .patchValue: break
            }
          }
          relevance[pixel] = rule == .gradientNorm ? total.squareRoot() : total
        }
      }
    }
    return relevance
  }
}
