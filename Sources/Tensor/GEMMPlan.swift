import CBLAS
import Foundation

/// The GEMM backend per shape class, measured on the machine that runs xai rather than
/// taken from a table measured elsewhere: which library is faster depends on the CPU, on
/// the kernels OpenBLAS picked for it and on the thread count.
///
/// At the first product that no setting forces (`XAI_GEMM`, `BLAS.backend`), `BLAS` asks
/// its `GEMMPlanner` for the plan of the current thread count. The planner reads it from
/// the cache (`GEMMPlanCache`, one small JSON file per machine key), or times both backends
/// on each class's representative products (`GEMMCalibration`, about a second) and writes
/// it there, under an exclusive lock so that every process of a machine uses one plan
/// (shard merging relies on each product having the same backend in every process).
/// Where OpenBLAS runs generic kernels on an AVX2/AVX-512 CPU nothing is measured: every
/// product goes to oneDNN, which detects the CPU itself.

/// One matrix product's shape: C[m×n] = op(A)·op(B), inner extent k.
public struct GEMMShape: Hashable, Sendable, CustomStringConvertible {
  /// Rows of C.
  public var m: Int
  /// Columns of C.
  public var n: Int
  /// The inner extent.
  public var k: Int
  /// Whether A is read transposed.
  public var transposeA: Bool
  /// Whether B is read transposed (x·Wᵀ with W stored [out, in]).
  public var transposeB: Bool

  /// A shape; both operands plain unless said otherwise.
  public init(_ m: Int, _ n: Int, _ k: Int, transposeA: Bool = false, transposeB: Bool = false) {
    (self.m, self.n, self.k, self.transposeA, self.transposeB) = (m, n, k, transposeA, transposeB)
  }

  /// Floating-point operations of one product (2·m·n·k).
  public var flops: Double { 2 * Double(m) * Double(n) * Double(k) }

  /// `m×n×k` and the operand layout, e.g. `32×768×3072 NT`.
  public var description: String { "\(m)×\(n)×\(k) \(transposeA ? "T" : "N")\(transposeB ? "T" : "N")" }
}

/// A class of matrix products that share one backend choice: tiny products (one attention
/// head), then by rows of C (≤ 64: one sentence; ≤ 512; more: IG or batches) and whether B
/// is read transposed (NT: x·Wᵀ, the forward of a linear layer; NN: ∂x = G·W, and A
/// transposed or not). x·Wᵀ with a long inner dimension at few rows has a class of its own
/// (the base model's second FFN layer, where oneDNN's kernel was slow on the development
/// machine). Every product falls in exactly one class.
public enum GEMMShapeClass: String, CaseIterable, Codable, Sendable {
  /// m·n·k ≤ 64³: one attention head's scores or P·V.
  case tiny
  /// At most 64 rows, x·Wᵀ.
  case fewRowsNT = "few-rows-nt"
  /// At most 64 rows, x·Wᵀ with k ≥ 2048 and k ≥ 4n.
  case fewRowsNTLongInner = "few-rows-nt-long-inner"
  /// At most 64 rows, B as stored.
  case fewRowsNN = "few-rows-nn"
  /// 65–512 rows, x·Wᵀ.
  case someRowsNT = "some-rows-nt"
  /// 65–512 rows, B as stored.
  case someRowsNN = "some-rows-nn"
  /// More than 512 rows, x·Wᵀ.
  case manyRowsNT = "many-rows-nt"
  /// More than 512 rows, B as stored.
  case manyRowsNN = "many-rows-nn"

  /// The class of a product.
  @inline(__always)
  public init(m: Int, n: Int, k: Int, transposeB: Bool) {
    self = Self.allCases[Self.index(m: m, n: n, k: k, transposeB: transposeB)]
  }

  /// The position in `allCases` of a product's class.
  @inline(__always)
  static func index(m: Int, n: Int, k: Int, transposeB: Bool) -> Int {
    if Double(m) * Double(n) * Double(k) <= 64 * 64 * 64 { return 0 }
    if m <= 64 {
      guard transposeB else { return 3 }
      return k >= 2048 && k >= 4 * n ? 2 : 1
    }
    if m <= 512 { return transposeB ? 4 : 5 }
    return transposeB ? 6 : 7
  }

  /// The products timed for this class: shapes the models run (the base model's, 768 wide
  /// with a 3072-wide FFN, at 32 tokens; 256 and 1024 rows for the larger classes).
  public var representatives: [GEMMShape] {
    switch self {
    case .tiny: return [GEMMShape(32, 32, 64, transposeB: true), GEMMShape(32, 64, 32)]
    case .fewRowsNT: return [GEMMShape(32, 3072, 768, transposeB: true)]
    case .fewRowsNTLongInner: return [GEMMShape(32, 768, 3072, transposeB: true)]
    case .fewRowsNN: return [GEMMShape(32, 768, 3072)]
    case .someRowsNT: return [GEMMShape(256, 768, 768, transposeB: true)]
    case .someRowsNN: return [GEMMShape(256, 768, 768)]
    case .manyRowsNT: return [GEMMShape(1024, 768, 384, transposeB: true)]
    case .manyRowsNN: return [GEMMShape(1024, 384, 768)]
    }
  }

  /// What the class holds, for people.
  public var summary: String {
    switch self {
    case .tiny: return "m·n·k ≤ 64³ (one attention head)"
    case .fewRowsNT: return "≤ 64 rows, x·Wᵀ"
    case .fewRowsNTLongInner: return "≤ 64 rows, x·Wᵀ, k ≥ 2048 and ≥ 4n"
    case .fewRowsNN: return "≤ 64 rows, B as stored"
    case .someRowsNT: return "65–512 rows, x·Wᵀ"
    case .someRowsNN: return "65–512 rows, B as stored"
    case .manyRowsNT: return "> 512 rows, x·Wᵀ"
    case .manyRowsNN: return "> 512 rows, B as stored"
    }
  }

  /// The backend kept when both measure within `GEMMPlan.tieMargin` of each other: the
  /// choice measured on the development machine (AMD EPYC), so that a near tie does not
  /// flip between machines of one kind. OpenBLAS's call costs less on tiny products.
  public var defaultBackend: GEMMBackend {
    switch self {
    case .tiny, .fewRowsNTLongInner: return .openBLAS
    default: return .oneDNN
    }
  }
}

/// The backend per shape class on one machine at one thread count, with the measurements
/// behind each choice; what `GEMMPlanCache` stores as JSON.
public struct GEMMPlan: Codable, Sendable, Equatable {
  /// One class's measurement and choice.
  public struct Entry: Codable, Sendable, Equatable {
    /// The class.
    public var shapeClass: GEMMShapeClass
    /// OpenBLAS's GFLOP/s on the class's representatives (on one thread), nil if not measured.
    public var openBLAS: Double?
    /// oneDNN's GFLOP/s on the class's representatives (`threads` threads), nil if not measured.
    public var oneDNN: Double?
    /// The backend chosen for the class.
    public var backend: GEMMBackend

    /// An entry as measured or decided.
    public init(shapeClass: GEMMShapeClass, openBLAS: Double?, oneDNN: Double?, backend: GEMMBackend) {
      (self.shapeClass, self.openBLAS, self.oneDNN, self.backend) = (shapeClass, openBLAS, oneDNN, backend)
    }

    /// The faster backend, or the class's default when the two are within `tieMargin` or
    /// were measured while other processes took the cores (`underLoad`).
    public init(shapeClass: GEMMShapeClass, openBLAS: Double, oneDNN: Double, underLoad: Bool = false) {
      let tie = Swift.max(openBLAS, oneDNN) <= (1 + GEMMPlan.tieMargin) * Swift.min(openBLAS, oneDNN)
      let backend: GEMMBackend =
        tie || underLoad ? shapeClass.defaultBackend : openBLAS > oneDNN ? .openBLAS : .oneDNN
      self.init(shapeClass: shapeClass, openBLAS: openBLAS, oneDNN: oneDNN, backend: backend)
    }

    enum CodingKeys: String, CodingKey {
      case shapeClass = "class"
      case openBLAS = "openblas_gflops"
      case oneDNN = "onednn_gflops"
      case backend
    }
  }

  /// Where a plan in use came from.
  public enum Source: Sendable, Equatable {
    /// Read from this cache file.
    case cache(path: String)
    /// Measured by this process and saved to this file (nil: no usable cache directory, or
    /// another process held the lock too long; kept in memory).
    case measured(path: String?)
    /// Not measured: OpenBLAS's kernels are generic on this CPU, every product goes to oneDNN.
    case genericOpenBLAS
    /// Not measured: oneDNN could not be opened, every product goes to OpenBLAS.
    case withoutOneDNN
  }

  /// The version of this JSON layout; a cache file of another version is measured again.
  public static let formatVersion = 1
  /// Two backends within this fraction of each other are a tie (the class's default wins).
  public static let tieMargin = 0.05

  /// The JSON layout's version (`formatVersion` when written by this build).
  public var format: Int
  /// The machine measured: the cache key.
  public var machine: GEMMMachine
  /// How long the measurement took (0 when nothing was measured).
  public var measuredSeconds: Double
  /// Cores that other processes kept busy, on average, on the CPUs this process may use
  /// while it measured (from /proc/stat; 0 when unknown).
  public var otherCores: Double
  /// Whether other processes took the cores the measurement needed (`otherCores` above what
  /// the thread count leaves free): the rates are skewed, so every class keeps its default.
  public var underLoad: Bool
  /// One entry per shape class, in `GEMMShapeClass.allCases` order.
  public var entries: [Entry]
  /// Where this plan came from (not stored).
  public var source: Source = .measured(path: nil)

  /// A plan from its parts.
  public init(
    machine: GEMMMachine, measuredSeconds: Double, entries: [Entry], source: Source, otherCores: Double = 0,
    underLoad: Bool = false
  ) {
    self.format = Self.formatVersion
    self.machine = machine
    self.measuredSeconds = measuredSeconds
    self.otherCores = otherCores
    self.underLoad = underLoad
    self.entries = entries
    self.source = source
  }

  /// Every product through oneDNN, nothing measured: for a generic OpenBLAS core.
  public static func genericOpenBLAS(_ machine: GEMMMachine) -> GEMMPlan {
    unmeasured(machine, every: .oneDNN, source: .genericOpenBLAS)
  }

  /// The plan where libdnnl could not be opened: every product on OpenBLAS, nothing measured.
  public static func withoutOneDNN(_ machine: GEMMMachine) -> GEMMPlan {
    unmeasured(machine, every: .openBLAS, source: .withoutOneDNN)
  }

  private static func unmeasured(_ machine: GEMMMachine, every backend: GEMMBackend, source: Source) -> GEMMPlan {
    GEMMPlan(
      machine: machine, measuredSeconds: 0,
      entries: GEMMShapeClass.allCases.map {
        Entry(shapeClass: $0, openBLAS: nil, oneDNN: nil, backend: backend)
      },
      source: source)
  }

  enum CodingKeys: String, CodingKey {
    case format, machine
    case measuredSeconds = "measured_seconds"
    case otherCores = "other_processes_cores"
    case underLoad = "under_load"
    case entries = "classes"
  }

  /// The backend for a product.
  public func backend(m: Int, n: Int, k: Int, transposeB: Bool) -> GEMMBackend {
    entries[GEMMShapeClass.index(m: m, n: n, k: k, transposeB: transposeB)].backend
  }

  /// The entry of a class.
  public func entry(_ shapeClass: GEMMShapeClass) -> Entry {
    entries.first { $0.shapeClass == shapeClass }
      ?? Entry(shapeClass: shapeClass, openBLAS: nil, oneDNN: nil, backend: shapeClass.defaultBackend)
  }

  /// Why a class has its backend, e.g. `measured few-rows-nt: OpenBLAS 68.1 GFLOP/s vs
  /// oneDNN 150.2` or `generic OpenBLAS core Prescott`.
  public func reason(_ shapeClass: GEMMShapeClass) -> String {
    let entry = entry(shapeClass)
    guard let openBLAS = entry.openBLAS, let oneDNN = entry.oneDNN else {
      switch source {
      case .genericOpenBLAS: return "generic OpenBLAS core \(machine.openBLASCore) on this AVX2/AVX-512 CPU"
      case .withoutOneDNN: return "oneDNN (libdnnl) could not be opened"
      default: return "not measured"
      }
    }
    let note =
      underLoad
      ? String(format: " (under load, %.1f cores taken by other processes: the default)", otherCores)
      : Swift.max(openBLAS, oneDNN) <= (1 + Self.tieMargin) * Swift.min(openBLAS, oneDNN)
        ? " (within \(Int(Self.tieMargin * 100)) %: the default)" : ""
    return String(
      format: "measured %@: OpenBLAS %.1f GFLOP/s vs oneDNN %.1f%@", shapeClass.rawValue, openBLAS, oneDNN,
      note)
  }

  /// Where the plan came from and how long its measurement took, for people.
  public var origin: String {
    let load =
      underLoad
      ? String(
        format: "; other processes kept %.1f cores busy meanwhile, so every class keeps the development "
          + "machine's choice (delete the file to measure again on a quiet machine)", otherCores) : ""
    return describeSource() + load
  }

  private func describeSource() -> String {
    switch source {
    case .cache(let path):
      return String(format: "read from %@ (measured in %.2f s when written)", path, measuredSeconds)
    case .measured(let path?):
      return String(format: "measured now in %.2f s, saved to %@", measuredSeconds, path)
    case .measured(nil):
      return String(format: "measured now in %.2f s, kept in memory (no cache file)", measuredSeconds)
    case .genericOpenBLAS:
      return "not measured: OpenBLAS runs generic \(machine.openBLASCore) kernels on this CPU, "
        + "every product goes to oneDNN"
    case .withoutOneDNN:
      return "not measured: oneDNN (libdnnl.so.2 or .3) could not be opened, every product goes to OpenBLAS"
    }
  }

  /// Whether this plan is whole and was measured for `machine` by this format: a cache file
  /// failing this is ignored and measured again.
  public func isUsable(for machine: GEMMMachine) -> Bool {
    guard format == Self.formatVersion, self.machine == machine, measuredSeconds.isFinite,
      otherCores.isFinite,
      entries.map(\.shapeClass) == GEMMShapeClass.allCases
    else { return false }
    return entries.allSatisfy { entry in
      [entry.openBLAS, entry.oneDNN].allSatisfy { rate in rate.map { $0.isFinite && $0 >= 0 } ?? true }
    }
  }

  /// Plans are equal when they are for the same machine and choose the same way on the
  /// same measurements (where they came from does not count).
  public static func == (a: GEMMPlan, b: GEMMPlan) -> Bool {
    a.format == b.format && a.machine == b.machine && a.measuredSeconds == b.measuredSeconds
      && a.otherCores == b.otherCores && a.underLoad == b.underLoad && a.entries == b.entries
  }
}

/// Times both backends on every class's representative products, at the thread layout
/// `BLAS` uses when it chooses per shape: oneDNN on `threads` OpenMP threads, OpenBLAS on
/// one thread (its pool never competes with oneDNN's).
public enum GEMMCalibration {
  /// Longest a class is timed per backend after its warm-up calls (seconds).
  static let budget = 0.02
  /// Length of one timing sample (seconds): the fastest of several samples counts, since
  /// a busy machine only ever adds time.
  static let sample = 0.002

  /// The plan measured on this machine for `machine.threads` threads per product (about
  /// half a second on a 2-core machine, twice that and a pause when it measures again under
  /// load); `source` is `.measured(path: nil)` until it is saved.
  ///
  /// Every class is timed on OpenBLAS first, then on oneDNN: OpenBLAS's idle pool threads
  /// spin for about 0.1 s after the library starts, and during that time oneDNN's second
  /// thread waited a scheduler tick (8 ms) per product on the development machine. Other
  /// processes busy on the same cores do the same to oneDNN for as long as they run (a
  /// test suite on the other core made it 8× slower): when /proc/stat shows them taking
  /// the cores the measurement needed, it is repeated once after a pause, and if they are
  /// still there every class keeps its default (`underLoad`).
  public static func measure(_ machine: GEMMMachine) -> GEMMPlan {
    let start = DispatchTime.now().uptimeNanoseconds
    let openBLASThreads = openblas_get_num_threads()
    if openBLASThreads != 1 { openblas_set_num_threads(1) }
    defer { if openBLASThreads != 1 { openblas_set_num_threads(openBLASThreads) } }
    let cpus = CPUTime.allowedCPUs()
    var rates: [GEMMBackend: [Double]] = [:]
    var otherCores = 0.0
    for attempt in 0..<2 {
      if attempt > 0 { Thread.sleep(forTimeInterval: 0.3) }
      let before = CPUTime.sample(cpus)
      rates = timeEveryClass(threads: machine.threads)
      otherCores = CPUTime.sample(cpus).flatMap { after in before.map { after.otherCores(since: $0) } } ?? 0
      if !isUnderLoad(otherCores: otherCores, cpus: cpus?.count, threads: machine.threads) { break }
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    return plan(
      machine, openBLAS: rates[.openBLAS]!, oneDNN: rates[.oneDNN]!, otherCores: otherCores,
      cpus: cpus?.count,
      seconds: seconds)
  }

  /// The plan from measured rates (GFLOP/s per class, in `GEMMShapeClass.allCases` order):
  /// the faster backend per class, its default on a near tie or when other processes took
  /// the cores (`otherCores` on the `cpus` this process may use; nil: unknown).
  public static func plan(
    _ machine: GEMMMachine, openBLAS: [Double], oneDNN: [Double], otherCores: Double, cpus: Int?,
    seconds: Double
  ) -> GEMMPlan {
    let underLoad = isUnderLoad(otherCores: otherCores, cpus: cpus, threads: machine.threads)
    let entries = GEMMShapeClass.allCases.enumerated().map { index, shapeClass in
      GEMMPlan.Entry(
        shapeClass: shapeClass, openBLAS: openBLAS[index], oneDNN: oneDNN[index], underLoad: underLoad)
    }
    return GEMMPlan(
      machine: machine, measuredSeconds: (seconds * 1000).rounded() / 1000, entries: entries,
      source: .measured(path: nil), otherCores: (otherCores * 100).rounded() / 100, underLoad: underLoad)
  }

  /// Whether other processes kept more than a quarter core busy beyond what `threads`
  /// leaves free of the `cpus` this process may use (nil: unknown, then only the quarter).
  public static func isUnderLoad(otherCores: Double, cpus: Int?, threads: Int) -> Bool {
    otherCores > Double(Swift.max(0, (cpus ?? threads) - threads)) + 0.25
  }

  /// GFLOP/s of each class's representatives on each backend, OpenBLAS's pass first.
  private static func timeEveryClass(threads: Int) -> [GEMMBackend: [Double]] {
    let shapes = GEMMShapeClass.allCases.flatMap(\.representatives)
    let a = operand(count: shapes.map { $0.m * $0.k }.max()!, seed: 1)
    let b = operand(count: shapes.map { $0.k * $0.n }.max()!, seed: 2)
    var c = [Float](repeating: 0, count: shapes.map { $0.m * $0.n }.max()!)
    var rates: [GEMMBackend: [Double]] = [:]
    for backend in [GEMMBackend.openBLAS, .oneDNN] {
      rates[backend] = GEMMShapeClass.allCases.map { shapeClass in
        let products = shapeClass.representatives
        let seconds = c.withUnsafeMutableBufferPointer { out in
          fastest {
            for shape in products {
              BLAS.run(
                backend, threads: threads, transposeA: shape.transposeA, transposeB: shape.transposeB,
                m: shape.m, n: shape.n, k: shape.k, alpha: 1, a: a, lda: shape.transposeA ? shape.m : shape.k,
                b: b, ldb: shape.transposeB ? shape.k : shape.n, beta: 0, c: out.baseAddress!, ldc: shape.n)
            }
          }
        }
        return (products.map(\.flops).reduce(0, +) / seconds / 1e9 * 10).rounded() / 10
      }
    }
    return rates
  }

  /// Values in [-1, 1) from a fixed sequence (the values do not matter, only that they are
  /// ordinary numbers).
  private static func operand(count: Int, seed: UInt64) -> [Float] {
    var generator = SeededGenerator(seed: seed)
    return (0..<count).map { _ in generator.uniform(-1, 1) }
  }

  /// Seconds per call of `body`: two warm-up calls (oneDNN's just-in-time kernels, OpenBLAS's
  /// buffers), then samples of about `sample` seconds for up to `budget` (at least 3); the
  /// fastest sample counts.
  private static func fastest(_ body: () -> Void) -> Double {
    func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
    body()
    body()
    var mark = now()
    body()
    let single = Swift.max(now() - mark, 1e-7)
    let repeats = Swift.min(1000, Swift.max(1, Int((sample / single).rounded(.up))))
    var best = single
    var samples = 0
    let begin = now()
    repeat {
      mark = now()
      for _ in 0..<repeats { body() }
      best = Swift.min(best, (now() - mark) / Double(repeats))
      samples += 1
    } while samples < 3 || (now() - begin < budget && samples < 30)
    return best
  }
}

/// CPU time on the CPUs this process may use, to tell whether other processes competed
/// with a measurement (Linux: /proc/self/status, /proc/stat; elsewhere unknown).
struct CPUTime {
  /// Busy seconds (user, nice, system, irq, softirq, steal) summed over the allowed CPUs.
  var busy: Double
  /// This process's CPU seconds, every thread.
  var own: Double
  /// Wall-clock seconds.
  var wall: Double

  /// Average cores that other processes kept busy between `earlier` and this sample.
  func otherCores(since earlier: CPUTime) -> Double {
    let wall = self.wall - earlier.wall
    guard wall > 0 else { return 0 }
    return Swift.max(0, (busy - earlier.busy) - (own - earlier.own)) / wall
  }

  /// The CPUs this process may run on (`Cpus_allowed_list`, e.g. `0-3,8`), nil if unknown.
  static func allowedCPUs() -> Set<Int>? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
      let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") })
    else { return nil }
    var cpus = Set<Int>()
    for part in line.dropFirst("Cpus_allowed_list:".count).split(separator: ",") {
      let bounds = part.trimmingCharacters(in: .whitespaces).split(separator: "-").compactMap { Int($0) }
      guard let low = bounds.first, let high = bounds.last, low <= high, high - low < 1 << 16 else {
        return nil
      }
      cpus.formUnion(low...high)
    }
    return cpus.isEmpty ? nil : cpus
  }

  /// Now, or nil when /proc/stat cannot be read.
  static func sample(_ cpus: Set<Int>?) -> CPUTime? {
    guard let cpus, let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    guard ticks > 0 else { return nil }
    var busy = 0.0
    for line in stat.split(separator: "\n") where line.hasPrefix("cpu") && !line.hasPrefix("cpu ") {
      let fields = line.split(separator: " ")
      guard fields.count > 8, let cpu = Int(fields[0].dropFirst(3)), cpus.contains(cpu) else { continue }
      // user nice system idle iowait irq softirq steal …: all but idle and iowait.
      busy += [1, 2, 3, 6, 7, 8].reduce(0.0) { $0 + (Double(fields[$1]) ?? 0) } / ticks
    }
    var own = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &own)
    var wall = timespec()
    clock_gettime(CLOCK_MONOTONIC, &wall)
    return CPUTime(
      busy: busy, own: Double(own.tv_sec) + Double(own.tv_nsec) / 1e9,
      wall: Double(wall.tv_sec) + Double(wall.tv_nsec) / 1e9)
  }
}

/// Decides the backend of each product that no setting forces, from the plan of the
/// thread count in use (read from the cache or measured once, then kept for the process).
/// `BLAS.planner` is the one every product goes through; tests build their own with a
/// chosen environment, machine and measurement.
public final class GEMMPlanner: @unchecked Sendable {
  /// The backend `XAI_GEMM=openblas|onednn` forces (nil: choose per shape).
  public let forcedBackend: GEMMBackend?
  private let environment: [String: String]
  private let machine: @Sendable (Int) -> GEMMMachine
  private let measure: @Sendable (GEMMMachine) -> GEMMPlan
  private let lock = NSLock()
  private var plans: [Int: GEMMPlan] = [:]
  private var lastThreads = 0
  private var lastPlan: [GEMMBackend] = []

  /// A planner for this environment (`XAI_GEMM`; the cache folder from `XAI_CACHE_DIR`,
  /// `XDG_CACHE_HOME` or `HOME`), machine facts and measurement.
  public init(
    environment: [String: String] = ProcessInfo.processInfo.environment,
    machine: @escaping @Sendable (Int) -> GEMMMachine = { GEMMMachine.current(threads: $0) },
    measure: @escaping @Sendable (GEMMMachine) -> GEMMPlan = { GEMMCalibration.measure($0) }
  ) {
    self.environment = environment
    self.forcedBackend = GEMMBackend(rawValue: environment["XAI_GEMM"]?.lowercased() ?? "")
    self.machine = machine
    self.measure = measure
  }

  /// The backend for a product at `threads` threads: the forced one, else the plan's.
  @inline(__always)
  public func backend(m: Int, n: Int, k: Int, transposeB: Bool, threads: Int) -> GEMMBackend {
    forcedBackend ?? plannedBackend(m: m, n: n, k: k, transposeB: transposeB, threads: threads)
  }

  /// The plan's backend for a product at `threads` threads, whatever `XAI_GEMM` says (for
  /// `BLAS`, whose own setting starts as `forcedBackend` and can be changed).
  @inline(__always)
  func plannedBackend(m: Int, n: Int, k: Int, transposeB: Bool, threads: Int) -> GEMMBackend {
    let index = GEMMShapeClass.index(m: m, n: n, k: k, transposeB: transposeB)
    lock.lock()
    defer { lock.unlock() }
    if lastThreads != threads {
      lastPlan = planLocked(threads: threads).entries.map(\.backend)
      lastThreads = threads
    }
    return lastPlan[index]
  }

  /// The plan for `threads` threads per product: kept from earlier in this process, read
  /// from the cache, or measured now (and saved).
  public func plan(threads: Int) -> GEMMPlan {
    lock.lock()
    defer { lock.unlock() }
    return planLocked(threads: threads)
  }

  /// The plan for `threads` if this process already has it (never measures).
  public func existingPlan(threads: Int) -> GEMMPlan? {
    lock.lock()
    defer { lock.unlock() }
    return plans[threads]
  }

  private func planLocked(threads: Int) -> GEMMPlan {
    if let plan = plans[threads] { return plan }
    let facts = machine(threads)
    let plan: GEMMPlan
    if facts.oneDNNVersion == GEMMMachine.oneDNNUnavailable {
      plan = .withoutOneDNN(facts)
    } else if facts.openBLASIsGeneric {
      plan = .genericOpenBLAS(facts)
    } else if let cache = GEMMPlanCache(environment: environment) {
      plan = cache.plan(for: facts, measure: measure)
    } else {
      plan = measure(facts)
    }
    plans[threads] = plan
    return plan
  }
}

/// Stored in plan files by name (`openblas`, `onednn`).
extension GEMMBackend: Codable {}
