import Foundation

/// A progress bar on standard error (only when it is a terminal): done/total, rate
/// and time left; redrawn at most ten times a second.
final class ProgressDisplay: @unchecked Sendable {
  private let total: Int?
  private let unit: String
  private let enabled: Bool
  private let start = Date()
  private var lastDraw = Date.distantPast
  private let lock = NSLock()
  private(set) var done = 0

  /// A display for `total` items (nil: unknown), drawn only when `enabled`.
  init(total: Int?, unit: String, enabled: Bool = isatty(STDERR_FILENO) != 0) {
    self.total = total
    self.unit = unit
    self.enabled = enabled
  }

  /// Seconds since the display started.
  var elapsed: Double { Date().timeIntervalSince(start) }

  /// Counts `count` more items done.
  func advance(by count: Int = 1) {
    lock.lock()
    defer { lock.unlock() }
    done += count
    guard enabled, Date().timeIntervalSince(lastDraw) >= 0.1 || done == total else { return }
    lastDraw = Date()
    draw()
  }

  private func draw() {
    let seconds = max(elapsed, 1e-3)
    let rate = Double(done) / seconds
    var line = ""
    if let total, total > 0 {
      let fraction = min(1, Double(done) / Double(total))
      let width = 28
      let filled = Int((fraction * Double(width)).rounded(.down))
      line +=
        "[" + String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled) + "] "
      line += "\(done)/\(total) \(unit)"
      if rate > 0 && done < total { line += " · ETA \(Self.duration(Double(total - done) / rate))" }
    } else {
      line += "\(done) \(unit)"
    }
    line += " · " + Self.rate(rate) + "/s"
    FileHandle.standardError.write(Data(("\r\u{1B}[2K" + line).utf8))
  }

  /// Clears the bar (before a summary or an error is printed).
  func finish() {
    lock.lock()
    defer { lock.unlock() }
    if enabled && lastDraw != Date.distantPast { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
  }

  /// Writes a line to standard error without breaking the bar.
  func message(_ text: String) {
    lock.lock()
    defer { lock.unlock() }
    if enabled && lastDraw != Date.distantPast { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
    printError(text)
    if enabled && lastDraw != Date.distantPast { draw() }
  }

  /// 4.5 M, 12.3 k, 7.2.
  static func rate(_ value: Double) -> String {
    if value >= 1e6 { return String(format: "%.1f M", value / 1e6) }
    if value >= 1e4 { return String(format: "%.1f k", value / 1e3) }
    return String(format: "%.1f", value)
  }

  /// 1 h 02 min, 3 min 20 s, 42 s.
  static func duration(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    if s >= 3600 { return String(format: "%d h %02d min", s / 3600, (s % 3600) / 60) }
    if s >= 60 { return "\(s / 60) min \(s % 60) s" }
    return "\(s) s"
  }
}
