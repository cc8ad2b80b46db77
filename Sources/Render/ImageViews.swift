import Attribution
import Foundation
import Models

/// Views of an image explanation: terminal panels of half-block characters, JSON, and
/// an HTML section with the image, the patch heatmap and the pixel heatmap.
public struct ImageViews: Sendable {
  /// Widest panel in the terminal, in pixels (= columns); larger images are averaged down.
  public static let terminalPanelWidth = 40

  public init() {}

  // MARK: Terminal

  /// Image, pixel relevance and patch relevance side by side (two pixel rows per
  /// character cell, 24-bit or 256 colours); under `.plain` the patch grid as numbers.
  public func terminal(
    _ explanation: ImageExplanation, mode: ColorMode, columns: Int = TerminalHeatmap.terminalWidth()
  ) -> String {
    let labels = explanation.labels
    let predicted = explanation.predictedIndex
    var lines: [String] = [
      "\(terminalSafe(explanation.source)) · \(terminalSafe(explanation.modelName)) · predicted \(terminalSafe(labels[predicted])) (p = \(formatNumber(explanation.probabilities[predicted], digits: 3))) · method \(explanation.method.title) · target \(terminalSafe(explanation.targetLabel)) [\(explanation.targetIndex)]"
    ]
    let size = explanation.imageSize
    let side = explanation.patchesPerSide
    if mode == .plain {
      lines.append(
        "patch relevance (\(side)×\(side), row by row; [CLS] \(formatNumber(explanation.classTokenRelevance))):"
      )
      for row in 0..<side {
        lines.append(
          (0..<side).map { pad(formatNumber(explanation.patchRelevance[row * side + $0], digits: 3), 10) }
            .joined())
      }
    } else {
      // Three panels and two gaps fit the terminal; no panel is wider than terminalPanelWidth.
      let panel = min(Self.terminalPanelWidth, max(8, (columns - 4) / 3))
      let scale = max(1, (size + panel - 1) / panel)
      let width = size / scale
      let image = averaged(size: size, by: scale) { y, x in grayOrColor(explanation.shown, y, x) }
      let pixelScale = robustScale(explanation.pixelRelevance)
      let pixels = averaged(size: size, by: scale) { y, x in
        let value = explanation.pixelRelevance[y * size + x]
        return RGB.diverging(value, scale: pixelScale)
      }
      let patchScale = explanation.patchRelevance.map(abs).max() ?? 0
      let patches = averaged(size: size, by: scale) { y, x in
        let patch = (y * side / size) * side + x * side / size
        return RGB.diverging(explanation.patchRelevance[patch], scale: patchScale)
      }
      lines.append(pad("image", width + 2, left: true) + pad("pixels", width + 2, left: true) + "patches")
      for row in stride(from: 0, to: width, by: 2) {
        lines.append(
          [image, pixels, patches].map { panel in
            (0..<width).map { column in
              halfBlock(
                top: panel[row * width + column],
                bottom: row + 1 < width ? panel[(row + 1) * width + column] : nil, mode: mode)
            }.joined()
          }.joined(separator: "  "))
      }
      lines.append(
        "red: supports \(terminalSafe(explanation.targetLabel)), blue: speaks against it; patches scaled to their largest |R|, pixels to the 99th percentile of |R|"
      )
    }
    lines += conservationLines(
      explanation.conservation, method: explanation.method, summed: "Σ R ([CLS] + patches)",
      extra: "; Σ pixels = \(formatNumber(explanation.sumPixels))")
    if let perturbation = explanation.perturbation { lines.append("cost: \(perturbation.sentence)") }
    return lines.joined(separator: "\n") + "\n"
  }

  private func grayOrColor(_ image: DecodedImage, _ y: Int, _ x: Int) -> RGB {
    let base = (y * image.width + x) * image.channels
    let p = image.pixels
    return image.channels >= 3
      ? RGB(red: p[base], green: p[base + 1], blue: p[base + 2])
      : RGB(red: p[base], green: p[base], blue: p[base])
  }

  /// A size × size panel averaged over `scale` × `scale` blocks, row by row.
  private func averaged(size: Int, by scale: Int, _ color: (Int, Int) -> RGB) -> [RGB] {
    let width = size / scale
    var result: [RGB] = []
    result.reserveCapacity(width * width)
    for y in 0..<width {
      for x in 0..<width {
        var total = (0, 0, 0)
        for dy in 0..<scale {
          for dx in 0..<scale {
            let c = color(y * scale + dy, x * scale + dx)
            total = (total.0 + Int(c.red), total.1 + Int(c.green), total.2 + Int(c.blue))
          }
        }
        let n = scale * scale
        result.append(RGB(red: UInt8(total.0 / n), green: UInt8(total.1 / n), blue: UInt8(total.2 / n)))
      }
    }
    return result
  }

  private func halfBlock(top: RGB, bottom: RGB?, mode: ColorMode) -> String {
    let bottom = bottom ?? RGB(red: 0, green: 0, blue: 0)
    switch mode {
    case .trueColor:
      return
        "\u{1B}[38;2;\(top.red);\(top.green);\(top.blue)m\u{1B}[48;2;\(bottom.red);\(bottom.green);\(bottom.blue)m▀\u{1B}[0m"
    case .palette256:
      return "\u{1B}[38;5;\(top.xterm256)m\u{1B}[48;5;\(bottom.xterm256)m▀\u{1B}[0m"
    case .plain:
      return " "
    }
  }

  private func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
    let gap = String(repeating: " ", count: max(0, width - text.count))
    return left ? text + gap : gap + text
  }

  // MARK: JSON

  /// One object: the prediction, the patch grid and pixel map as rows, conservation.
  public func json(_ explanation: ImageExplanation) -> JSONOutput {
    let side = explanation.patchesPerSide
    let size = explanation.imageSize
    let c = explanation.conservation
    var conservation: [(String, JSONOutput)] = [
      ("sum_relevance", .float(c.sumRelevance)), ("target_logit", .float(c.targetLogit)),
      ("residual", .float(c.residual)), ("sum_pixels", .float(explanation.sumPixels)),
    ]
    if let baseline = c.baselineLogit, let completeness = c.completenessResidual {
      conservation += [("baseline_logit", .float(baseline)), ("completeness_residual", .float(completeness))]
    }
    return .object([
      ("model", .string(explanation.modelName)), ("image", .string(explanation.source)),
      ("method", .string(explanation.method.name)),
      ("detach", .strings(explanation.method.detached.map(\.rawValue))),
      ("labels", .strings(explanation.labels)), ("logits", .floats(explanation.logits)),
      ("probabilities", .floats(explanation.probabilities)),
      (
        "predicted",
        .object([
          ("index", .int(explanation.predictedIndex)),
          ("label", .string(explanation.labels[explanation.predictedIndex])),
        ])
      ),
      (
        "target",
        .object([("index", .int(explanation.targetIndex)), ("label", .string(explanation.targetLabel))])
      ),
      ("class_token_relevance", .float(explanation.classTokenRelevance)),
      (
        "patch_grid",
        .array((0..<side).map { .floats(Array(explanation.patchRelevance[($0 * side)..<(($0 + 1) * side)])) })
      ),
      (
        "pixel_relevance",
        .array((0..<size).map { .floats(Array(explanation.pixelRelevance[($0 * size)..<(($0 + 1) * size)])) })
      ),
      ("conservation", .object(conservation)),
    ] + (explanation.perturbation.map { [("perturbation", $0.json)] } ?? []))
  }

  // MARK: HTML

  /// A page: per image, the image, the pixel heatmap over it, the patch heatmap, one row
  /// per method, and the class probabilities.
  public func page(_ explanations: [[ImageExplanation]], title: String) -> String {
    var page = HTMLPage(title: title)
    page.footer =
      "Made by xai. Red supports the target class, blue speaks against it, white is zero; patch maps are scaled to their largest |R|, pixel maps to the 99th percentile of |R|. Pixel relevance is carried from the patch embeddings through the linear patch projection (perturbation methods read no gradient: each pixel shows its patch's value); over the image, red or blue with opacity growing with |R| (nothing below a tenth of the scale)."
    page.append("<h1>\(escapeHTML(title))</h1>")
    for methods in explanations {
      guard let first = methods.first else { continue }
      let predicted = first.predictedIndex
      page.append("<section>")
      page.append(
        "<h2>\(escapeHTML(first.source))</h2><p class=\"sub\">predicted <b>\(escapeHTML(first.labels[predicted]))</b> (p = \(formatNumber(first.probabilities[predicted], digits: 3))); target \(escapeHTML(first.targetLabel))</p>"
      )
      page.append(
        "<table class=\"images\"><tr><th></th><th>image</th><th>pixels over image</th><th>pixels</th><th>patches</th><th>Σ R / logit</th></tr>"
      )
      for explanation in methods {
        page.append(
          "<tr><th>\(escapeHTML(explanation.method.title))</th><td>\(svg(explanation, layer: .image))</td><td>\(svg(explanation, layer: .overlay))</td><td>\(svg(explanation, layer: .pixels))</td><td>\(svg(explanation, layer: .patches))</td><td class=\"num\">\(formatNumber(explanation.conservation.sumRelevance)) / \(formatNumber(explanation.conservation.targetLogit))\(explanation.perturbation.map { "<br><span class=\"sub\">\(groupedDigits($0.evaluations)) evaluations</span>" } ?? "")</td></tr>"
        )
      }
      page.append("</table>")
      page.append("<table class=\"data\"><tr><th>class</th><th>p</th><th></th></tr>")
      for index in first.labels.indices.sorted(by: { first.probabilities[$0] > first.probabilities[$1] })
        .prefix(10)
      {
        let p = first.probabilities[index]
        page.append(
          "<tr><td>\(escapeHTML(first.labels[index]))</td><td class=\"num\">\(formatNumber(p, digits: 3))</td><td><span class=\"bar\(index == predicted ? " best" : "")\" style=\"width:\(Int((p * 200).rounded()))px\"></span></td></tr>"
        )
      }
      page.append("</table></section>")
    }
    return page.text
  }

  enum Layer { case image, overlay, pixels, patches }

  /// One panel as SVG rectangles, 150 px wide (images wider than 64 pixels averaged
  /// down to at most 64 cells a side).
  func svg(_ explanation: ImageExplanation, layer: Layer) -> String {
    let size = explanation.imageSize
    let side = explanation.patchesPerSide
    let scale = max(1, (size + 63) / 64)
    let cells = size / scale
    let cell = 150.0 / Double(cells)
    var out =
      "<svg viewBox=\"0 0 150 150\" width=\"150\" height=\"150\" role=\"img\" shape-rendering=\"crispEdges\">"
    func rect(
      _ x: Double, _ y: Double, _ w: Double, _ h: Double, _ color: RGB, opacity: Double = 1,
      title: String? = nil
    ) {
      out +=
        "<rect x=\"\(String(format: "%.2f", x * cell))\" y=\"\(String(format: "%.2f", y * cell))\" width=\"\(String(format: "%.2f", w * cell))\" height=\"\(String(format: "%.2f", h * cell))\" fill=\"\(color.hex)\"\(opacity < 1 ? " fill-opacity=\"\(opacity)\"" : "")"
        + (title.map { "><title>\($0)</title></rect>" } ?? "/>")
    }
    func blockMean(_ values: [Float], _ y: Int, _ x: Int) -> Float {
      var total: Float = 0
      for dy in 0..<scale {
        for dx in 0..<scale { total += values[(y * scale + dy) * size + x * scale + dx] }
      }
      return total / Float(scale * scale)
    }
    if layer == .image || layer == .overlay {
      let colors = averaged(size: size, by: scale) { y, x in grayOrColor(explanation.shown, y, x) }
      for y in 0..<cells { for x in 0..<cells { rect(Double(x), Double(y), 1, 1, colors[y * cells + x]) } }
    }
    if layer == .pixels || layer == .overlay {
      let blocks = (0..<(cells * cells)).map { blockMean(explanation.pixelRelevance, $0 / cells, $0 % cells) }
      let largest = robustScale(blocks)
      for y in 0..<cells {
        for x in 0..<cells {
          let value = blocks[y * cells + x]
          if layer == .pixels {
            rect(Double(x), Double(y), 1, 1, RGB.diverging(value, scale: largest))
            continue
          }
          // Over the image: pure red or blue whose opacity grows with |R|, nothing below a
          // tenth of the scale, so that the image stays visible.
          let strength = largest > 0 ? min(1, abs(value) / largest) : 0
          guard strength >= 0.1 else { continue }
          let hue = value > 0 ? RGB(red: 220, green: 30, blue: 30) : RGB(red: 40, green: 90, blue: 230)
          rect(
            Double(x), Double(y), 1, 1, hue, opacity: ((0.25 + 0.7 * Double(strength)) * 100).rounded() / 100)
        }
      }
    }
    if layer == .patches {
      let patchScale = explanation.patchRelevance.map(abs).max() ?? 0
      let p = Double(cells) / Double(side)
      for row in 0..<side {
        for column in 0..<side {
          let value = explanation.patchRelevance[row * side + column]
          rect(
            Double(column) * p, Double(row) * p, p, p, RGB.diverging(value, scale: patchScale),
            title: "patch (\(row), \(column)): R = \(formatNumber(value))")
        }
      }
    }
    return out + "</svg>"
  }
}

/// The colour scale of a pixel map: the 99th percentile of |R| (the largest few pixels
/// saturate instead of washing out the rest).
func robustScale(_ values: [Float]) -> Float {
  let magnitudes = values.map(abs).sorted()
  guard let largest = magnitudes.last else { return 0 }
  let percentile = magnitudes[min(magnitudes.count - 1, Int(Double(magnitudes.count) * 0.99))]
  return percentile > 0 ? percentile : largest
}
