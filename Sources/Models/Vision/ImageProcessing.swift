// pixel_values = normalise(rescale(resize(convert(image)))), as Hugging Face's
// ViTImageProcessor (its PIL backend) computes them:
//   convert   to the model's channels: alpha composited over white,
//             c' = round((c·a + 255·(255 − a)) / 255), when do_convert_rgb (else dropped);
//             gray replicated to RGB; RGB to gray as PIL's "L" (299/587/114 in 16-bit fixed point).
//   resize    PIL's BILINEAR on 8-bit samples: separable, one pass per axis whose size
//             changes, an 8-bit image between the passes; for output i, scale = in/out,
//             s = max(scale, 1), centre c = (i + ½)·scale, taps j ∈ [⌊c − s + ½⌋, ⌊c + s + ½⌋)
//             with weight max(0, 1 − |j − c + ½| / s), normalised, in 22-bit fixed point,
//             out = clip((2²¹ + Σ k·u) >> 22). The vertical pass runs first when
//             in_h > out_h and in_h − out_h > 2·(in_w − out_w) (Pillow 13), else the horizontal.
//   rescale   x = float32(u · rescale_factor); normalise (x − mean_c) / std_c.

extension ImagePreprocessing {
  /// `image` with `channels` samples per pixel (1 gray or 3 RGB) and no alpha.
  public func converted(_ image: DecodedImage, channels: Int) -> DecodedImage {
    let source = image.channels
    let hasAlpha = source == 2 || source == 4
    let colours = hasAlpha ? source - 1 : source
    let count = image.width * image.height
    var out = [UInt8](repeating: 0, count: count * channels)
    image.pixels.withUnsafeBufferPointer { pixels in
      for p in 0..<count {
        let base = p * source
        var sample = SIMD3<Int>(
          Int(pixels[base]), Int(pixels[base + (colours == 1 ? 0 : 1)]),
          Int(pixels[base + (colours == 1 ? 0 : 2)]))
        if hasAlpha && convertsToRGB {
          let alpha = Int(pixels[base + source - 1])
          sample = (sample &* alpha &+ 255 * (255 - alpha) &+ 127) / 255
        }
        if channels == 1 {
          out[p] =
            colours == 1
            ? UInt8(sample.x) : UInt8((sample.x * 19595 + sample.y * 38470 + sample.z * 7471 + 0x8000) >> 16)
        } else {
          out[p * 3] = UInt8(sample.x)
          out[p * 3 + 1] = UInt8(sample.y)
          out[p * 3 + 2] = UInt8(sample.z)
        }
      }
    }
    return DecodedImage(width: image.width, height: image.height, channels: channels, pixels: out)
  }

  /// `image` resized to `height` × `width` with PIL's bilinear filter on 8-bit samples.
  public static func resized(_ image: DecodedImage, height: Int, width: Int) -> DecodedImage {
    let (inHeight, inWidth) = (image.height, image.width)
    var current = image
    let verticalFirst = inHeight > height && inHeight - height > 2 * (inWidth - width)
    for vertical in verticalFirst ? [true, false] : [false, true] {
      let (from, to) = vertical ? (current.height, height) : (current.width, width)
      guard from != to else { continue }
      current = pass(current, vertical: vertical, to: to)
    }
    return current
  }

  /// One resampling pass along rows (`vertical`) or columns.
  private static func pass(_ image: DecodedImage, vertical: Bool, to size: Int) -> DecodedImage {
    let from = vertical ? image.height : image.width
    let taps = coefficients(from: from, to: size)
    let (width, height) = vertical ? (image.width, size) : (size, image.height)
    let channels = image.channels
    var out = [UInt8](repeating: 0, count: width * height * channels)
    image.pixels.withUnsafeBufferPointer { pixels in
      for y in 0..<height {
        for x in 0..<width {
          let (index, other) = vertical ? (y, x) : (x, y)
          let tap = taps[index]
          for c in 0..<channels {
            var total = 1 << 21
            for (offset, weight) in tap.weights.enumerated() {
              let j = tap.start + offset
              let source = vertical ? (j * image.width + other) : (other * image.width + j)
              total += weight * Int(pixels[source * channels + c])
            }
            out[(y * width + x) * channels + c] = UInt8(clamping: total >> 22)
          }
        }
      }
    }
    return DecodedImage(width: width, height: height, channels: channels, pixels: out)
  }

  /// The first tap and the 22-bit fixed-point weights of each output position.
  private static func coefficients(from: Int, to: Int) -> [(start: Int, weights: [Int])] {
    let scale = Double(from) / Double(to)
    let support = max(scale, 1)
    return (0..<to).map { i in
      let center = (Double(i) + 0.5) * scale
      let first = max(Int(center - support + 0.5), 0)
      let end = min(Int(center + support + 0.5), from)
      var weights = (first..<max(first, end)).map { j in max(0, 1 - abs((Double(j) - center + 0.5) / support))
      }
      let total = weights.reduce(0, +)
      if total != 0 { weights = weights.map { $0 / total } }
      return (first, weights.map { Int($0 * 4_194_304 + ($0 < 0 ? -0.5 : 0.5)) })
    }
  }

  /// The model input [C, H, W] of an image already converted and resized.
  public func normalized(_ image: DecodedImage) -> [Float] {
    let (channels, count) = (image.channels, image.width * image.height)
    var values = [Float](repeating: 0, count: channels * count)
    for p in 0..<count {
      for c in 0..<channels {
        let sample = image.pixels[p * channels + c]
        var x = rescaleFactor.map { Float(Double(sample) * $0) } ?? Float(sample)
        if let mean, let std { x = (x - mean[c]) / std[c] }
        values[c * count + p] = x
      }
    }
    return values
  }

  /// The model input [C, H, W] of `image` for a model with `channels` channels, and the
  /// 8-bit image it was computed from (converted and resized), for display.
  public func pixelValues(_ image: DecodedImage, channels: Int) -> (values: [Float], shown: DecodedImage) {
    var prepared = converted(image, channels: channels)
    if let size { prepared = Self.resized(prepared, height: size.height, width: size.width) }
    return (normalized(prepared), prepared)
  }

  /// The model input of an all-black image (every sample 0 before rescaling), per channel.
  public func blackValue(channel: Int) -> Float {
    guard let mean, let std else { return 0 }
    return (0 - mean[channel]) / std[channel]
  }
}
