import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The folder where measured GEMM plans are kept between runs: one small JSON file per
/// machine key (`gemm-plan-<threads>t-<key hash>.json`: CPU model and vector flags,
/// OpenBLAS's core and config, oneDNN's version, threads per product, plan format).
///
/// The folder is `$XAI_CACHE_DIR` if set (and then only that one), else `$XDG_CACHE_HOME/xai`,
/// else `$HOME/.cache/xai`; deleting its `gemm-plan-*` files makes the next run measure
/// again. A file is replaced atomically (written beside it, then renamed), and a process
/// measures only while it holds an exclusive `flock` on the key's `.lock` file, so that
/// processes starting together (array-job shards, parallel tests) wait for one measurement
/// and all use it. A file that is damaged, of another format or for another key is
/// ignored and rewritten; nothing about the cache ever stops a product from running.
public struct GEMMPlanCache: Sendable {
  /// The cache folder.
  public let directory: URL
  /// Longest a process waits for another one's measurement before measuring itself and
  /// keeping the result in memory (seconds).
  public var lockWait: Double = 60

  /// A cache in `directory` (created when a plan is first written).
  public init(directory: URL) { self.directory = directory }

  /// The cache the environment names (see the type's description), or nil when no
  /// candidate folder exists or can be created writable.
  public init?(environment: [String: String]) {
    guard let path = CacheFolder.path(environment: environment) else { return nil }
    self.init(directory: URL(fileURLWithPath: path, isDirectory: true))
  }

  /// The cache file of a machine key.
  public func fileURL(for machine: GEMMMachine) -> URL {
    directory.appendingPathComponent(
      "gemm-plan-\(machine.threads)t-\(String(Self.keyHash(machine), radix: 16)).json")
  }

  /// The plan stored for `machine`, if its file holds a usable one (never throws or traps on
  /// a damaged file: it is then simply not used).
  public func read(_ machine: GEMMMachine) -> GEMMPlan? {
    let url = fileURL(for: machine)
    guard let attributes = try? FileManager.default.attributesOfItem(atPath: url.path),
      attributes[.type] as? FileAttributeType == .typeRegular,
      (attributes[.size] as? NSNumber)?.intValue ?? Int.max <= 1 << 20,
      let data = FileManager.default.contents(atPath: url.path),
      var plan = try? JSONDecoder().decode(GEMMPlan.self, from: data), plan.isUsable(for: machine)
    else { return nil }
    plan.source = .cache(path: url.path)
    return plan
  }

  /// Writes `plan` to its key's file atomically (a temporary file renamed over it); false if
  /// that failed (the folder is gone or read-only, the disk full, …).
  @discardableResult
  public func write(_ plan: GEMMPlan) -> Bool {
    let url = fileURL(for: plan.machine)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    guard CacheFolder.isUsable(directory.path), var data = try? encoder.encode(plan) else { return false }
    data.append(0x0A)
    let temporary = directory.appendingPathComponent(
      ".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp")
    guard FileManager.default.createFile(atPath: temporary.path, contents: data) else { return false }
    guard rename(temporary.path, url.path) == 0 else {
      unlink(temporary.path)
      return false
    }
    return true
  }

  /// The stored plan for `machine`, or one measured now and stored: the measurement runs
  /// while this process holds the key's lock, and a plan another process wrote meanwhile
  /// is taken instead of measuring.
  public func plan(for machine: GEMMMachine, measure: (GEMMMachine) -> GEMMPlan) -> GEMMPlan {
    if let plan = read(machine) { return plan }
    let lock = Lock(path: fileURL(for: machine).path + ".lock", wait: lockWait)
    defer { lock.release() }
    if let plan = read(machine) { return plan }
    var plan = measure(machine)
    plan.source = .measured(path: nil)
    switch lock.state {
    case .held, .unsupported:
      // Without lock support, another process may have finished first: its plan wins.
      if lock.state == .unsupported, let other = read(machine) { return other }
      if write(plan) { plan.source = .measured(path: fileURL(for: machine).path) }
    case .timedOut:
      break  // the holder will write its own plan; this one stays in memory
    }
    return plan
  }

  /// A stable 64-bit FNV-1a hash of the key's fields (Swift's `Hasher` differs per process).
  static func keyHash(_ machine: GEMMMachine) -> UInt64 {
    let key = [
      "format \(GEMMPlan.formatVersion)", machine.cpuModel, machine.vectorFlags.joined(separator: " "),
      machine.openBLASCore, machine.openBLASConfig, machine.oneDNNVersion, "threads \(machine.threads)",
    ].joined(separator: "\n")
    return CacheFolder.stableHash(key)
  }

  /// An exclusive `flock` on a lock file, waited for up to `wait` seconds.
  final class Lock {
    enum State { case held, timedOut, unsupported }
    private(set) var state: State
    private var descriptor: Int32

    init(path: String, wait: Double) {
      descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
      guard descriptor >= 0 else {
        state = .unsupported
        return
      }
      let deadline = Date().addingTimeInterval(wait)
      while true {
        if flock(descriptor, LOCK_EX | LOCK_NB) == 0 {
          state = .held
          return
        }
        let error = errno
        guard error == EWOULDBLOCK || error == EINTR else {
          state = .unsupported
          return
        }
        guard Date() < deadline else {
          state = .timedOut
          return
        }
        usleep(20_000)
      }
    }

    func release() {
      guard descriptor >= 0 else { return }
      if state == .held { flock(descriptor, LOCK_UN) }
      close(descriptor)
      descriptor = -1
    }
  }
}
