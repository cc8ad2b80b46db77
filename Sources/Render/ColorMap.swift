/// The diverging colour scale of every xai view: blue (negative) → white (0) → red
/// (positive), intensity ∝ |R| / max|R|.
public struct RGB: Sendable, Equatable {
  /// The channels, 0…255.
  public let red, green, blue: UInt8

  /// A colour from its channels.
  public init(red: UInt8, green: UInt8, blue: UInt8) {
    self.red = red
    self.green = green
    self.blue = blue
  }

  /// The colour of `value` on a scale whose extremes are ±`scale`.
  public static func diverging(_ value: Float, scale: Float) -> RGB {
    let strength = scale > 0 && value.isFinite ? min(1, abs(value) / scale) : 0
    let fade = UInt8((255 * (1 - 0.85 * strength)).rounded())
    let deep = UInt8((255 * (1 - 0.55 * strength)).rounded())
    return value >= 0 ? RGB(red: deep, green: fade, blue: fade) : RGB(red: fade, green: fade, blue: deep)
  }

  /// Relative luminance in 0…1 (sRGB weights, no gamma).
  public var luminance: Double {
    (0.2126 * Double(red) + 0.7152 * Double(green) + 0.0722 * Double(blue)) / 255
  }

  /// Black or white, whichever reads better on this background.
  public var contrastingText: RGB {
    luminance > 0.5 ? RGB(red: 0, green: 0, blue: 0) : RGB(red: 255, green: 255, blue: 255)
  }

  /// `#rrggbb`.
  public var hex: String {
    "#"
      + [red, green, blue].map { value in
        let digits = String(value, radix: 16)
        return digits.count == 1 ? "0" + digits : digits
      }.joined()
  }

  /// Nearest entry of the xterm 256-colour cube (16…231).
  public var xterm256: Int {
    func level(_ component: UInt8) -> Int {
      let steps = [0, 95, 135, 175, 215, 255]
      return steps.indices.min { abs(steps[$0] - Int(component)) < abs(steps[$1] - Int(component)) }!
    }
    return 16 + 36 * level(red) + 6 * level(green) + level(blue)
  }
}
