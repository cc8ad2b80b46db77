import Foundation
import ImageCodecs

/// An image decoded from a PNG or JPEG file: 8-bit samples, row-major, `channels` per
/// pixel (1 gray, 2 gray + alpha, 3 RGB, 4 RGBA).
public struct DecodedImage: Sendable, Equatable {
  /// Width in pixels.
  public let width: Int
  /// Height in pixels.
  public let height: Int
  /// Samples per pixel.
  public let channels: Int
  /// width × height × channels samples.
  public let pixels: [UInt8]

  /// An image from its samples.
  public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
    precondition(pixels.count == width * height * channels, "one sample per pixel and channel")
    self.width = width
    self.height = height
    self.channels = channels
    self.pixels = pixels
  }

  /// Most pixels an image file may declare (decoding allocates up to 4 bytes each).
  public static let largestPixelCount = 1 << 25

  /// Reads a PNG or JPEG file (told apart by their first bytes). A file that is neither,
  /// truncated, corrupt, without pixels or larger than `largestPixelCount` pixels is
  /// refused with one sentence naming it, before its pixels are allocated.
  public static func read(_ path: String) throws -> DecodedImage {
    let data = try readFileContents(path)
    return try decode(data, source: path)
  }

  /// Decodes PNG or JPEG bytes; `source` names them in errors.
  public static func decode(_ data: Data, source: String) throws -> DecodedImage {
    let bytes = [UInt8](data)
    var image = xai_image()
    let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    let status: Int32
    let format: String
    if bytes.starts(with: pngSignature) {
      format = "PNG"
      status = xai_decode_png(bytes, bytes.count, largestPixelCount, &image)
    } else if bytes.starts(with: [0xFF, 0xD8]) {
      format = "JPEG"
      status = xai_decode_jpeg(bytes, bytes.count, largestPixelCount, &image)
    } else {
      throw ModelError.badInput("\(source) is not a PNG or JPEG image.")
    }
    defer { xai_image_free(&image) }
    guard status == 0, let pixels = image.pixels else {
      let message = withUnsafeBytes(of: image.message) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
      }
      throw ModelError.badInput("\(source): cannot read the \(format) image: \(message).")
    }
    let count = Int(image.width) * Int(image.height) * Int(image.channels)
    return DecodedImage(
      width: Int(image.width), height: Int(image.height), channels: Int(image.channels),
      pixels: Array(UnsafeBufferPointer(start: pixels, count: count)))
  }
}
