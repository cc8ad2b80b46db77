import CBLAS
import CDNNL
import Foundation

/// The facts about a machine that decide which GEMM backend is faster there, and that key a
/// cached plan (`GEMMPlanCache`): a plan measured under other facts is never used.
///
/// Tests build one from chosen values, so that the rules over these facts (the generic
/// OpenBLAS core, the cache key) do not depend on the machine running them.
public struct GEMMMachine: Codable, Hashable, Sendable {
  /// The CPU's model name (`model name` in /proc/cpuinfo).
  public var cpuModel: String
  /// The CPU's vector extensions among avx, avx2, fma, avx512f, asimd and sve, sorted.
  public var vectorFlags: [String]
  /// The kernel family OpenBLAS runs (`openblas_get_corename()`: Haswell, Zen, Prescott, …).
  public var openBLASCore: String
  /// OpenBLAS's version and build options (`openblas_get_config()`).
  public var openBLASConfig: String
  /// oneDNN's version (`dnnl_version()`), or `oneDNNUnavailable`.
  public var oneDNNVersion: String
  /// Threads of one product (`BLAS.threads`); OpenBLAS runs on one whenever oneDNN may run.
  public var threads: Int

  /// A machine described by hand.
  public init(
    cpuModel: String, vectorFlags: [String], openBLASCore: String, openBLASConfig: String,
    oneDNNVersion: String, threads: Int
  ) {
    self.cpuModel = cpuModel
    self.vectorFlags = Array(Set(vectorFlags)).sorted()
    self.openBLASCore = openBLASCore
    self.openBLASConfig = openBLASConfig
    self.oneDNNVersion = oneDNNVersion
    self.threads = threads
  }

  /// The machine this process runs on, at `threads` threads per product.
  public static func current(threads: Int) -> GEMMMachine {
    let host = hostFacts
    return GEMMMachine(
      cpuModel: host.cpuModel, vectorFlags: host.vectorFlags, openBLASCore: host.openBLASCore,
      openBLASConfig: host.openBLASConfig, oneDNNVersion: host.oneDNNVersion, threads: threads)
  }

  /// OpenBLAS runs kernels older than this CPU warrants: a pre-AVX2 family (Prescott, Core2,
  /// Nehalem, Atom, Sandybridge, …) on a CPU with AVX2 or AVX-512. Debian's OpenBLAS 0.3.21
  /// does that on CPUs newer than itself (an AVX-512 Xeon ran `Prescott` kernels at 13.6
  /// GFLOP/s where oneDNN, which detects the CPU itself, reached 60).
  public var openBLASIsGeneric: Bool { Self.isGeneric(core: openBLASCore, flags: vectorFlags) }

  static func isGeneric(core: String, flags: [String]) -> Bool {
    let wide = flags.contains("avx2") || flags.contains("avx512f")
    return wide && preAVX2Cores.contains(core.lowercased())
  }

  /// One line for people: CPU, OpenBLAS's core and version, oneDNN's version, threads.
  public var summary: String {
    let flags = vectorFlags.isEmpty ? "" : " (\(vectorFlags.joined(separator: " ")))"
    return
      "\(cpuModel)\(flags); OpenBLAS core \(openBLASCore) (\(openBLASConfig)); oneDNN \(oneDNNVersion); "
      + "\(threads) thread\(threads == 1 ? "" : "s") per product"
  }

  /// OpenBLAS's x86 kernel families without AVX2 kernels (names as `openblas_get_corename`
  /// reports them, lowercased). A family not listed (a newer one) is never called generic.
  static let preAVX2Cores: Set<String> = [
    "unknown", "generic", "katmai", "coppermine", "northwood", "prescott", "banias", "atom", "core2",
    "penryn", "dunnington", "nehalem", "athlon", "opteron", "opteron_sse3", "barcelona", "nano",
    "sandybridge", "bobcat", "bulldozer", "piledriver", "steamroller",
  ]

  /// The vector extensions recorded in `vectorFlags`.
  static let recordedFlags: Set<String> = ["avx", "avx2", "fma", "avx512f", "asimd", "sve"]

  /// `oneDNNVersion` where libdnnl could not be opened: every product then goes to OpenBLAS.
  public static let oneDNNUnavailable = "unavailable"

  /// Whether OpenBLAS's kernels are generic on this machine, from the CPU and OpenBLAS
  /// alone (deciding it does not open oneDNN).
  static let hostOpenBLASIsGeneric = isGeneric(core: hostOpenBLASCore, flags: hostCPU.flags)

  private static let hostCPU = cpuInfo(firstProcessorOf: readCPUInfo())
  private static let hostOpenBLASCore = openblas_get_corename().map { String(cString: $0) } ?? "?"

  private static let hostFacts: GEMMMachine = {
    var (major, minor, patch): (Int32, Int32, Int32) = (0, 0, 0)
    var hash: UnsafePointer<CChar>?
    var oneDNN = oneDNNUnavailable
    if xai_dnnl_version(&major, &minor, &patch, &hash) != 0 {
      oneDNN = "\(major).\(minor).\(patch)"
      if let hash = hash.map({ String(cString: $0) }), !hash.isEmpty, hash != "N/A" {
        oneDNN += " (\(hash))"
      }
    }
    return GEMMMachine(
      cpuModel: hostCPU.model, vectorFlags: hostCPU.flags, openBLASCore: hostOpenBLASCore,
      openBLASConfig: openblas_get_config().map { String(cString: $0) } ?? "?", oneDNNVersion: oneDNN,
      threads: 1)
  }()

  /// The start of /proc/cpuinfo (the first processor's block fits: the file repeats it per CPU).
  private static func readCPUInfo() -> String {
    guard let handle = FileHandle(forReadingAtPath: "/proc/cpuinfo") else { return "" }
    defer { try? handle.close() }
    let data = (try? handle.read(upToCount: 65536)) ?? Data()
    return String(decoding: data, as: UTF8.self)
  }

  /// The model name and the recorded vector flags of the first processor in `text`
  /// (/proc/cpuinfo's format: `key<tabs>: value` lines, a blank line between processors).
  static func cpuInfo(firstProcessorOf text: String) -> (model: String, flags: [String]) {
    var model: String?
    var flags: [String] = []
    // Spaces and tabs trimmed by hand: Foundation's CharacterSet costs milliseconds to set
    // up on first use, and this runs at every start.
    func trimmed(_ text: Substring) -> String {
      let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
      guard let first = text.firstIndex(where: { !blank($0) }) else { return "" }
      let last = text.lastIndex(where: { !blank($0) })!
      return String(text[first...last])
    }
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
      if trimmed(line).isEmpty {
        if model != nil || !flags.isEmpty { break }
        continue
      }
      guard let colon = line.firstIndex(of: ":") else { continue }
      let key = trimmed(line[..<colon])
      let value = trimmed(line[line.index(after: colon)...])
      switch key {
      case "model name", "cpu model": model = model ?? value
      case "flags", "Features":
        flags = value.split(separator: " ").map(String.init).filter { recordedFlags.contains($0) }
      default: break
      }
    }
    #if arch(x86_64)
      let architecture = "x86_64"
    #elseif arch(arm64)
      let architecture = "arm64"
    #else
      let architecture = "other"
    #endif
    return (model ?? "unknown \(architecture) CPU", flags)
  }
}
