import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// The folder where xai keeps what it measured or converted between runs (GEMM plans,
/// float32 copies of half-precision weights): `$XAI_CACHE_DIR` if set (and then only that
/// one), else `$XDG_CACHE_HOME/xai`, else `$HOME/.cache/xai`. Everything in it may be
/// deleted at any time; the next run measures or converts again.
public enum CacheFolder {
  /// The first candidate folder the environment names that exists or can be created, and
  /// that this process can write in; nil when there is none.
  public static func path(environment: [String: String]) -> String? {
    func nonEmpty(_ key: String) -> String? { environment[key].flatMap { $0.isEmpty ? nil : $0 } }
    var candidates: [String] = []
    if let explicit = nonEmpty("XAI_CACHE_DIR") {
      candidates = [explicit]
    } else {
      if let xdg = nonEmpty("XDG_CACHE_HOME"), xdg.hasPrefix("/") { candidates.append(xdg + "/xai") }
      if let home = nonEmpty("HOME") { candidates.append(home + "/.cache/xai") }
    }
    return candidates.first(where: isUsable)
  }

  /// Whether `path` is (or could be created as) a folder this process can write in.
  public static func isUsable(_ path: String) -> Bool {
    var isFolder: ObjCBool = false
    if !FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) {
      guard (try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)) != nil
      else { return false }
      isFolder = true
    }
    return isFolder.boolValue && access(path, W_OK | X_OK) == 0
  }

  /// A stable hash of `text` for file names derived from a key (`StableHash.fnv1a`).
  public static func stableHash(_ text: String) -> UInt64 { StableHash.fnv1a(text.utf8) }
}

/// A hash that is the same in every process and on every machine (Swift's `Hasher` is
/// seeded per process): cache file names, and the vocabulary index of WordPiece.
public enum StableHash {
  /// 64-bit FNV-1a of `bytes`.
  @inlinable
  public static func fnv1a<Bytes: Sequence>(_ bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes {
      hash ^= UInt64(byte)
      hash &*= 0x0000_0100_0000_01b3
    }
    return hash
  }
}
