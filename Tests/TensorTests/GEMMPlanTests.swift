import Foundation
import Tensor
import XCTest

/// Points this test process's plan cache (`BLAS.planner`, made at the first product) at a
/// folder of the temporary directory, so that no test writes into the user's real cache
/// (the plan measured there is reused by later runs). Every test class of this target
/// calls it from `setUp()`, before its first product.
func isolateGEMMPlanCache() {
  _ = isolatedGEMMPlanCache
}

private let isolatedGEMMPlanCache: String = {
  let path = NSTemporaryDirectory() + "xai-tensor-tests-gemm-plans"
  setenv("XAI_CACHE_DIR", path, 1)
  return path
}()

/// The measured GEMM plan: the shape classes, ties, the cache (round trip, damaged files,
/// another key, where it lives, one measurement for concurrent processes), the generic
/// OpenBLAS rule on injected CPU facts, and `XAI_GEMM` forcing. A stand-in measurement
/// makes the results exact; nothing asserts on speed.
final class GEMMPlanTests: XCTestCase {
  private var folder: URL!

  override class func setUp() {
    super.setUp()
    isolateGEMMPlanCache()
  }

  override func setUpWithError() throws {
    folder = URL(fileURLWithPath: NSTemporaryDirectory())
      .appendingPathComponent("xai-gemm-plan-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws {
    chmod(folder.path, 0o755)
    try? FileManager.default.removeItem(at: folder)
  }

  private var environment: [String: String] { ["XAI_CACHE_DIR": folder.path] }

  private func planFiles() -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
      .filter { $0.hasPrefix("gemm-plan-") && $0.hasSuffix(".json") }
  }

  // MARK: classes and choices

  func testEveryRepresentativeFallsInItsOwnClassAndTheOldRuleIsEachClassDefault() {
    for shapeClass in GEMMShapeClass.allCases {
      for shape in shapeClass.representatives {
        XCTAssertEqual(
          GEMMShapeClass(m: shape.m, n: shape.n, k: shape.k, transposeB: shape.transposeB), shapeClass,
          "\(shape)")
      }
    }
    // The development machine's fixed rule, as it was: OpenBLAS for tiny products and for
    // x·Wᵀ with a long inner dimension at ≤ 64 rows, oneDNN elsewhere.
    for m in [1, 14, 32, 64, 65, 448, 1024] {
      for (n, k) in [(14, 32), (32, 14), (768, 3072), (3072, 768), (384, 1536), (64, 64), (1, 4096)] {
        for transposeB in [false, true] {
          let old: GEMMBackend =
            m * n * k <= 64 * 64 * 64 || (transposeB && k >= 2048 && k >= 4 * n && m <= 64)
            ? .openBLAS : .oneDNN
          XCTAssertEqual(
            GEMMBackend.defaultChoice(m: m, n: n, k: k, transposeB: transposeB), old,
            "\(m)×\(n)×\(k) \(transposeB)")
        }
      }
    }
  }

  func testTheFasterBackendWinsAndANearTieGoesToTheClassDefault() {
    XCTAssertEqual(GEMMPlan.Entry(shapeClass: .fewRowsNT, openBLAS: 120, oneDNN: 60).backend, .openBLAS)
    XCTAssertEqual(GEMMPlan.Entry(shapeClass: .tiny, openBLAS: 40, oneDNN: 60).backend, .oneDNN)
    XCTAssertEqual(GEMMPlan.Entry(shapeClass: .fewRowsNT, openBLAS: 102, oneDNN: 100).backend, .oneDNN)
    XCTAssertEqual(GEMMPlan.Entry(shapeClass: .tiny, openBLAS: 100, oneDNN: 104).backend, .openBLAS)
    XCTAssertEqual(
      GEMMPlan.Entry(shapeClass: .fewRowsNTLongInner, openBLAS: 96, oneDNN: 100).backend, .openBLAS)
  }

  func testAMeasurementWhileOtherProcessesTookTheCoresKeepsEveryClassDefault() throws {
    let count = GEMMShapeClass.allCases.count
    let openBLAS = [Double](repeating: 150, count: count)
    let oneDNN = [Double](repeating: 20, count: count)
    let quiet = GEMMCalibration.plan(
      testMachine(), openBLAS: openBLAS, oneDNN: oneDNN, otherCores: 0.1, cpus: 2, seconds: 0.7)
    XCTAssertFalse(quiet.underLoad)
    XCTAssertEqual(quiet.entries.map(\.backend), Array(repeating: .openBLAS, count: count))
    let loaded = GEMMCalibration.plan(
      testMachine(), openBLAS: openBLAS, oneDNN: oneDNN, otherCores: 0.8, cpus: 2, seconds: 1.8)
    XCTAssertTrue(loaded.underLoad)
    XCTAssertEqual(loaded.otherCores, 0.8)
    XCTAssertEqual(loaded.entries.map(\.backend), GEMMShapeClass.allCases.map(\.defaultBackend))
    XCTAssertEqual(loaded.entry(.fewRowsNT).openBLAS, 150, "the rates are kept for people to read")
    XCTAssertTrue(loaded.reason(.fewRowsNT).contains("under load, 0.8 cores taken by other processes"))
    XCTAssertTrue(loaded.origin.contains("other processes kept 0.8 cores busy"))
    // Other processes on CPUs the thread count leaves free do not count.
    XCTAssertFalse(GEMMCalibration.isUnderLoad(otherCores: 1.9, cpus: 4, threads: 2))
    XCTAssertTrue(GEMMCalibration.isUnderLoad(otherCores: 2.5, cpus: 4, threads: 2))
    XCTAssertTrue(GEMMCalibration.isUnderLoad(otherCores: 0.3, cpus: nil, threads: 2))
    XCTAssertTrue(GEMMCalibration.isUnderLoad(otherCores: 0.3, cpus: 2, threads: 4))
    XCTAssertFalse(GEMMCalibration.isUnderLoad(otherCores: 0, cpus: 2, threads: 2))
    // The flag is stored: every process then keeps the same defaults.
    let cache = GEMMPlanCache(directory: folder)
    XCTAssertTrue(cache.write(loaded))
    XCTAssertEqual(cache.read(testMachine()), loaded)
    XCTAssertEqual(cache.read(testMachine())?.underLoad, true)
  }

  // MARK: the cache

  func testCacheRoundTripGivesTheSamePlanWithoutMeasuringAgain() throws {
    let measurement = StandInMeasurement()
    let first = GEMMPlanner(
      environment: environment, machine: { testMachine(threads: $0) }, measure: measurement.run
    )
    .plan(threads: 2)
    XCTAssertEqual(measurement.calls, 1)
    let path = GEMMPlanCache(directory: folder).fileURL(for: testMachine()).path
    XCTAssertEqual(first.source, .measured(path: path))
    XCTAssertEqual(planFiles(), [URL(fileURLWithPath: path).lastPathComponent])
    // A new process (a new planner) reads the file instead of measuring.
    let second = GEMMPlanner(
      environment: environment, machine: { testMachine(threads: $0) }, measure: measurement.run
    )
    .plan(threads: 2)
    XCTAssertEqual(measurement.calls, 1)
    XCTAssertEqual(second.source, .cache(path: path))
    XCTAssertEqual(second, first)
    for shapeClass in GEMMShapeClass.allCases {
      XCTAssertEqual(second.entry(shapeClass), first.entry(shapeClass))
    }
    // The stand-in makes OpenBLAS faster on few-rows x·Wᵀ only.
    XCTAssertEqual(second.backend(m: 32, n: 3072, k: 768, transposeB: true), .openBLAS)
    XCTAssertEqual(second.backend(m: 32, n: 3072, k: 768, transposeB: false), .oneDNN)
    XCTAssertEqual(second.reason(.fewRowsNT), "measured few-rows-nt: OpenBLAS 150.0 GFLOP/s vs oneDNN 100.0")
    // Within one process the plan is kept: no second read or measurement.
    let planner = GEMMPlanner(
      environment: environment, machine: { testMachine(threads: $0) }, measure: measurement.run)
    XCTAssertNil(planner.existingPlan(threads: 2))
    XCTAssertEqual(planner.backend(m: 14, n: 1536, k: 384, transposeB: true, threads: 2), .openBLAS)
    XCTAssertEqual(planner.existingPlan(threads: 2), first)
  }

  func testDamagedCacheFilesAreIgnoredAndReplaced() throws {
    let cache = GEMMPlanCache(directory: folder)
    let url = cache.fileURL(for: testMachine())
    let valid = StandInMeasurement().run(testMachine())
    let encoded = try JSONEncoder().encode(valid)
    let damaged: [(String, Data)] = [
      ("empty", Data()),
      ("binary", Data([0xFF, 0x00, 0xFE, 0x7B, 0x22])),
      ("truncated", encoded.prefix(encoded.count / 2)),
      ("not an object", Data("[1, 2, 3]".utf8)),
      (
        "unknown class",
        Data(
          String(decoding: encoded, as: UTF8.self).replacingOccurrences(of: "\"tiny\"", with: "\"huge\"").utf8
        )
      ),
      (
        "unknown backend",
        Data(
          String(decoding: encoded, as: UTF8.self).replacingOccurrences(of: "\"onednn\"", with: "\"mkl\"")
            .utf8)
      ),
      (
        "rate of the wrong type",
        Data(String(decoding: encoded, as: UTF8.self).replacingOccurrences(of: "150", with: "\"fast\"").utf8)
      ),
      (
        "negative rate",
        Data(String(decoding: encoded, as: UTF8.self).replacingOccurrences(of: "150", with: "-150").utf8)
      ),
      (
        "deeply nested",
        Data((String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)).utf8)
      ),
      ("a class missing", try missingClass(encoded)),
    ]
    for (what, bytes) in damaged {
      try bytes.write(to: url)
      let measurement = StandInMeasurement()
      XCTAssertNil(cache.read(testMachine()), what)
      let plan = cache.plan(for: testMachine(), measure: measurement.run)
      XCTAssertEqual(measurement.calls, 1, what)
      XCTAssertEqual(plan.source, .measured(path: url.path), what)
      XCTAssertEqual(cache.read(testMachine()), plan, "\(what): the file is rewritten")
    }
    // A folder where the file should be: measured, kept in memory, no trap.
    try FileManager.default.removeItem(at: url)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
    let measurement = StandInMeasurement()
    let plan = cache.plan(for: testMachine(), measure: measurement.run)
    XCTAssertEqual(measurement.calls, 1)
    XCTAssertEqual(plan.source, .measured(path: nil))
  }

  private func missingClass(_ encoded: Data) throws -> Data {
    var object = try XCTUnwrap(JSONSerialization.jsonObject(with: encoded) as? [String: Any])
    object["classes"] = (object["classes"] as? [Any])?.dropLast().map { $0 }
    return try JSONSerialization.data(withJSONObject: object)
  }

  func testACacheForAnotherKeyIsNotUsed() throws {
    let cache = GEMMPlanCache(directory: folder)
    let here = testMachine()
    let others = [
      testMachine(cpu: "Other CPU"), testMachine(core: "Zen"), testMachine(flags: ["avx"]),
      testMachine(threads: 1),
      GEMMMachine(
        cpuModel: here.cpuModel, vectorFlags: here.vectorFlags, openBLASCore: here.openBLASCore,
        openBLASConfig: "OpenBLAS 0.3.26 Haswell", oneDNNVersion: here.oneDNNVersion, threads: here.threads),
      GEMMMachine(
        cpuModel: here.cpuModel, vectorFlags: here.vectorFlags, openBLASCore: here.openBLASCore,
        openBLASConfig: here.openBLASConfig, oneDNNVersion: "3.4.1", threads: here.threads),
    ]
    XCTAssertEqual(Set(([here] + others).map { cache.fileURL(for: $0) }).count, others.count + 1)
    let encoder = JSONEncoder()
    for other in others {
      // Another key's plan where this key's file is (a copied file, a hash collision).
      let foreign = StandInMeasurement(openBLASWins: true).run(other)
      try encoder.encode(foreign).write(to: cache.fileURL(for: here))
      XCTAssertNil(cache.read(here), "\(other)")
      let measurement = StandInMeasurement()
      let plan = cache.plan(for: here, measure: measurement.run)
      XCTAssertEqual(measurement.calls, 1)
      XCTAssertEqual(plan.machine, here)
      XCTAssertEqual(cache.read(here), plan)
    }
    // A plan of another format version is not used either.
    var old = StandInMeasurement().run(here)
    old.format = GEMMPlan.formatVersion + 1
    try encoder.encode(old).write(to: cache.fileURL(for: here))
    XCTAssertNil(cache.read(here))
  }

  func testTheCacheFolderIsXAICacheDirElseXDGCacheHomeElseHome() throws {
    let xdg = folder.appendingPathComponent("xdg").path
    let home = folder.appendingPathComponent("home").path
    let explicit = folder.appendingPathComponent("explicit").path
    XCTAssertEqual(
      GEMMPlanCache(environment: ["XAI_CACHE_DIR": explicit, "XDG_CACHE_HOME": xdg, "HOME": home])?.directory
        .path,
      explicit)
    XCTAssertEqual(
      GEMMPlanCache(environment: ["XDG_CACHE_HOME": xdg, "HOME": home])?.directory.path, xdg + "/xai")
    XCTAssertEqual(
      GEMMPlanCache(environment: ["XAI_CACHE_DIR": "", "XDG_CACHE_HOME": "relative", "HOME": home])?.directory
        .path,
      home + "/.cache/xai")
    XCTAssertNil(GEMMPlanCache(environment: [:]))
  }

  func testWithoutAWritableCacheFolderThePlanIsMeasuredOncePerProcess() throws {
    guard geteuid() != 0 else {
      // root writes anywhere: use a folder that cannot be made instead (below a file).
      let file = folder.appendingPathComponent("a-file")
      try Data("x".utf8).write(to: file)
      try assertMeasuredInMemory(cacheFolder: file.appendingPathComponent("xai").path)
      return
    }
    let locked = folder.appendingPathComponent("read-only")
    try FileManager.default.createDirectory(at: locked, withIntermediateDirectories: false)
    chmod(locked.path, 0o555)
    defer { chmod(locked.path, 0o755) }
    try assertMeasuredInMemory(cacheFolder: locked.path)
  }

  private func assertMeasuredInMemory(cacheFolder: String) throws {
    XCTAssertNil(GEMMPlanCache(environment: ["XAI_CACHE_DIR": cacheFolder]))
    let measurement = StandInMeasurement()
    let planner = GEMMPlanner(
      environment: ["XAI_CACHE_DIR": cacheFolder], machine: { testMachine(threads: $0) },
      measure: measurement.run)
    let plan = planner.plan(threads: 2)
    XCTAssertEqual(plan.source, .measured(path: nil))
    for _ in 0..<3 { _ = planner.backend(m: 32, n: 768, k: 768, transposeB: true, threads: 2) }
    XCTAssertEqual(planner.plan(threads: 2), plan)
    XCTAssertEqual(measurement.calls, 1)
    _ = planner.plan(threads: 1)
    XCTAssertEqual(measurement.calls, 2, "another thread count is another plan")
  }

  func testProcessesStartingTogetherMeasureOnceAndShareThePlan() {
    // Separate planners stand for separate processes: each opens the lock file itself, and
    // flock excludes separate opens of one file even within a process.
    let measurement = StandInMeasurement(delay: 0.2, varying: true)
    let environment = self.environment
    let results = PlanSlots(count: 4)
    DispatchQueue.concurrentPerform(iterations: 4) { index in
      let planner = GEMMPlanner(
        environment: environment,
        machine: { testMachine(threads: $0) }, measure: measurement.run)
      results.set(index, planner.plan(threads: 2))
    }
    XCTAssertEqual(measurement.calls, 1)
    let plans = results.all
    XCTAssertEqual(plans.count, 4)
    for plan in plans { XCTAssertEqual(plan, plans[0]) }
    XCTAssertEqual(planFiles().count, 1)
  }

  // MARK: generic OpenBLAS and forcing

  func testTheGenericCoreRuleNeedsAPreAVX2CoreOnAnAVX2OrAVX512CPU() {
    let avx2 = ["avx", "avx2", "fma"]
    let avx512 = ["avx", "avx2", "avx512f", "fma"]
    for core in ["Prescott", "Core2", "Nehalem", "Atom", "Sandybridge", "Penryn", "Bulldozer", "PRESCOTT"] {
      XCTAssertTrue(testMachine(core: core, flags: avx2).openBLASIsGeneric, core)
      XCTAssertTrue(testMachine(core: core, flags: avx512).openBLASIsGeneric, core)
    }
    for core in ["Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids", "SomeFutureCore"] {
      XCTAssertFalse(testMachine(core: core, flags: avx512).openBLASIsGeneric, core)
    }
    // An old CPU whose own family OpenBLAS runs is not generic: its kernels are its best.
    XCTAssertFalse(testMachine(core: "Prescott", flags: []).openBLASIsGeneric)
    XCTAssertFalse(testMachine(core: "Sandybridge", flags: ["avx"]).openBLASIsGeneric)
    XCTAssertFalse(testMachine(core: "Nehalem", flags: ["asimd"]).openBLASIsGeneric)
  }

  func testAGenericCoreSendsEveryProductToOneDNNWithoutMeasuringOrCaching() {
    let measurement = StandInMeasurement(openBLASWins: true)
    let planner = GEMMPlanner(
      environment: environment,
      machine: { testMachine(core: "Prescott", flags: ["avx2", "avx512f"], threads: $0) },
      measure: measurement.run)
    let plan = planner.plan(threads: 2)
    XCTAssertEqual(plan.source, .genericOpenBLAS)
    for shapeClass in GEMMShapeClass.allCases {
      XCTAssertEqual(plan.entry(shapeClass).backend, .oneDNN)
      XCTAssertEqual(plan.reason(shapeClass), "generic OpenBLAS core Prescott on this AVX2/AVX-512 CPU")
    }
    for (m, n, k) in [(14, 14, 32), (32, 768, 3072), (1024, 3072, 768)] {
      XCTAssertEqual(planner.backend(m: m, n: n, k: k, transposeB: true, threads: 2), .oneDNN)
    }
    XCTAssertEqual(measurement.calls, 0)
    XCTAssertEqual(planFiles(), [])
  }

  /// oneDNN is opened on first use; where it cannot be, every product goes to OpenBLAS,
  /// even on a generic core, and nothing is measured or cached.
  func testWithoutOneDNNEveryProductGoesToOpenBLASUnmeasured() {
    let measurement = StandInMeasurement(openBLASWins: false)
    for core in ["Haswell", "Prescott"] {
      let planner = GEMMPlanner(
        environment: environment,
        machine: {
          var machine = testMachine(core: core, flags: ["avx2", "avx512f"], threads: $0)
          machine.oneDNNVersion = GEMMMachine.oneDNNUnavailable
          return machine
        },
        measure: measurement.run)
      let plan = planner.plan(threads: 2)
      XCTAssertEqual(plan.source, .withoutOneDNN)
      for shapeClass in GEMMShapeClass.allCases {
        XCTAssertEqual(plan.entry(shapeClass).backend, .openBLAS)
        XCTAssertEqual(plan.reason(shapeClass), "oneDNN (libdnnl) could not be opened")
      }
      XCTAssertTrue(plan.origin.contains("could not be opened"), plan.origin)
    }
    XCTAssertEqual(measurement.calls, 0)
    XCTAssertEqual(planFiles(), [])
  }

  /// oneDNN opens (libdnnl-dev is installed by make setup) and reports its version.
  func testOneDNNOpensAndReportsItsVersion() {
    XCTAssertTrue(BLAS.oneDNNAvailable, "libdnnl is installed by make setup")
    XCTAssertNotEqual(GEMMMachine.current(threads: 1).oneDNNVersion, GEMMMachine.oneDNNUnavailable)
  }

  func testXAIGEMMForcesEveryProductAndNothingIsMeasured() {
    for (value, backend) in [("openblas", GEMMBackend.openBLAS), ("oneDNN", .oneDNN), ("ONEDNN", .oneDNN)] {
      let measurement = StandInMeasurement(openBLASWins: backend == .oneDNN)
      let planner = GEMMPlanner(
        environment: environment.merging(["XAI_GEMM": value]) { $1 }, machine: { testMachine(threads: $0) },
        measure: measurement.run)
      XCTAssertEqual(planner.forcedBackend, backend)
      for shapeClass in GEMMShapeClass.allCases {
        for shape in shapeClass.representatives {
          XCTAssertEqual(
            planner.backend(m: shape.m, n: shape.n, k: shape.k, transposeB: shape.transposeB, threads: 2),
            backend)
        }
      }
      XCTAssertNil(planner.existingPlan(threads: 2))
      XCTAssertEqual(measurement.calls, 0)
      XCTAssertEqual(planFiles(), [])
    }
    XCTAssertNil(GEMMPlanner(environment: ["XAI_GEMM": "mkl"]).forcedBackend)
    // `BLAS` starts from the same reading of the process environment.
    XCTAssertEqual(
      GEMMPlanner().forcedBackend,
      GEMMBackend(rawValue: ProcessInfo.processInfo.environment["XAI_GEMM"]?.lowercased() ?? ""))
  }

  // MARK: the real measurement

  func testTheRealMeasurementGivesEveryClassBothRatesAndAChoice() {
    let here = GEMMMachine.current(threads: 2)
    let plan = GEMMCalibration.measure(here)
    XCTAssertTrue(plan.isUsable(for: here))
    XCTAssertEqual(plan.entries.map(\.shapeClass), GEMMShapeClass.allCases)
    for entry in plan.entries {
      XCTAssertGreaterThan(entry.openBLAS ?? 0, 0)
      XCTAssertGreaterThan(entry.oneDNN ?? 0, 0)
      XCTAssertEqual(
        entry.backend,
        GEMMPlan.Entry(
          shapeClass: entry.shapeClass, openBLAS: entry.openBLAS!, oneDNN: entry.oneDNN!,
          underLoad: plan.underLoad
        ).backend)
    }
    XCTAssertGreaterThan(plan.measuredSeconds, 0)
    XCTAssertFalse(here.cpuModel.isEmpty)
    XCTAssertFalse(here.openBLASCore.isEmpty)
  }
}

private func testMachine(
  cpu: String = "Test CPU", core: String = "Haswell", flags: [String] = ["avx", "avx2", "fma"],
  threads: Int = 2
) -> GEMMMachine {
  GEMMMachine(
    cpuModel: cpu, vectorFlags: flags, openBLASCore: core, openBLASConfig: "OpenBLAS 0.3.21 \(core)",
    oneDNNVersion: "2.6.3", threads: threads)
}

/// A measurement with fixed rates (OpenBLAS 150 GFLOP/s on few-rows x·Wᵀ, 50 elsewhere;
/// oneDNN 100 everywhere), counting its calls; `varying` makes each call's rates differ,
/// so that two measurements would give two plans.
private final class StandInMeasurement: @unchecked Sendable {
  private let lock = NSLock()
  private var count = 0
  private let openBLASWins: Bool
  private let delay: Double
  private let varying: Bool

  init(openBLASWins: Bool = false, delay: Double = 0, varying: Bool = false) {
    (self.openBLASWins, self.delay, self.varying) = (openBLASWins, delay, varying)
  }

  var calls: Int {
    lock.lock()
    defer { lock.unlock() }
    return count
  }

  var run: @Sendable (GEMMMachine) -> GEMMPlan { { self.measure($0) } }

  private func measure(_ machine: GEMMMachine) -> GEMMPlan {
    lock.lock()
    count += 1
    let call = count
    lock.unlock()
    if delay > 0 { Thread.sleep(forTimeInterval: delay) }
    let entries = GEMMShapeClass.allCases.map { shapeClass in
      let fast = openBLASWins || shapeClass == .fewRowsNT
      return GEMMPlan.Entry(
        shapeClass: shapeClass, openBLAS: fast ? 150 : 50, oneDNN: varying ? 100 + Double(call) : 100)
    }
    return GEMMPlan(machine: machine, measuredSeconds: 0.5, entries: entries, source: .measured(path: nil))
  }
}

/// Results written by concurrent workers.
private final class PlanSlots: @unchecked Sendable {
  private let lock = NSLock()
  private var slots: [GEMMPlan?]

  init(count: Int) { slots = Array(repeating: nil, count: count) }

  func set(_ index: Int, _ plan: GEMMPlan) {
    lock.lock()
    slots[index] = plan
    lock.unlock()
  }

  var all: [GEMMPlan] {
    lock.lock()
    defer { lock.unlock() }
    return slots.compactMap { $0 }
  }
}
