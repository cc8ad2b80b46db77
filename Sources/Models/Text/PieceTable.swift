import Foundation
import Tensor

/// A WordPiece vocabulary as UTF-8 bytes in one buffer, indexed by an open-addressing hash
/// table of ids: reading a `vocab.txt` makes no `String` per piece and no dictionary of
/// them (for the sample model's 8,694 pieces that was 3.3 ms of every start; a BERT-base
/// vocabulary has 30,522). A piece's `String` is made only when a token shows it.
struct PieceTable: Sendable {
  /// Every piece's bytes, one after another.
  private let bytes: [UInt8]
  /// Where piece i starts in `bytes`; `starts[count]` is the end.
  private let starts: [Int32]
  /// Ids by hash slot, -1 where empty; the length is a power of two at least twice `count`.
  private let slots: [Int32]
  /// Number of pieces (ids are 0..<count).
  let count: Int
  /// Unicode scalars of the longest piece, not counting a leading `##`.
  let longestScalars: Int

  /// Largest vocabulary, in bytes, that the 32-bit offsets hold.
  static let largestBytes = Int(Int32.max)

  /// The pieces of a `vocab.txt`: one per line (0x0A; a trailing 0x0D dropped; no piece
  /// after a final line break), id = line number. Nil when a line is not UTF-8 or the
  /// file is over `largestBytes`.
  init?(lines data: UnsafeBufferPointer<UInt8>) {
    guard data.count < Self.largestBytes else { return nil }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(data.count)
    var starts: [Int32] = [0]
    starts.reserveCapacity(data.count / 6 + 2)
    var lineStart = 0
    var index = 0
    let total = data.count
    while lineStart < total {
      index = lineStart
      var ascii = true
      while index < total && data[index] != 0x0A {
        if data[index] >= 0x80 { ascii = false }
        index += 1
      }
      let stop = index > lineStart && data[index - 1] == 0x0D ? index - 1 : index
      // What follows the last line break is a piece only if it holds more than a CR.
      if index == total && stop == lineStart { break }
      let line = UnsafeBufferPointer(rebasing: data[lineStart..<stop])
      if !ascii && String(validating: line, as: UTF8.self) == nil { return nil }
      bytes.append(contentsOf: line)
      starts.append(Int32(bytes.count))
      lineStart = index + 1
    }
    // "a\nb" and "a\nb\n" both hold two pieces; "a\n\nb" holds an empty one.
    self.init(bytes: bytes, starts: starts)
  }

  /// The pieces of `pieces`, id = position; nil when they hold `largestBytes` or more.
  init?(pieces: [String]) {
    var bytes: [UInt8] = []
    var starts: [Int32] = [0]
    for piece in pieces {
      bytes.append(contentsOf: piece.utf8)
      guard bytes.count < Self.largestBytes else { return nil }
      starts.append(Int32(bytes.count))
    }
    self.init(bytes: bytes, starts: starts)
  }

  private init(bytes: [UInt8], starts: [Int32]) {
    let count = starts.count - 1
    var size = 16
    while size < 2 * count { size <<= 1 }
    var slots = [Int32](repeating: -1, count: size)
    var longest = 0
    bytes.withUnsafeBufferPointer { all in
      for id in 0..<count {
        let piece = Self.piece(id, in: all, starts: starts)
        var scalars = 0
        for byte in piece where byte & 0xC0 != 0x80 { scalars += 1 }
        if piece.count >= 2 && piece[0] == 0x23 && piece[1] == 0x23 { scalars -= 2 }
        longest = max(longest, scalars)
        // A piece listed twice keeps its last id, as Hugging Face reads vocab.txt.
        slots[Self.slot(of: piece, in: all, starts: starts, slots: slots)] = Int32(id)
      }
    }
    self.bytes = bytes
    self.starts = starts
    self.slots = slots
    self.count = count
    longestScalars = longest
  }

  /// The id of `piece`, or nil when the vocabulary has no such piece.
  func id(of piece: String) -> Int? {
    var piece = piece
    return piece.withUTF8 { id(of: $0) }
  }

  /// The id of the piece with these UTF-8 bytes.
  func id(of piece: UnsafeBufferPointer<UInt8>) -> Int? {
    let id = slots[bytes.withUnsafeBufferPointer { Self.slot(of: piece, in: $0, starts: starts, slots: slots) }]
    return id >= 0 ? Int(id) : nil
  }

  /// The piece with id `id` (0 ≤ id < count).
  subscript(id: Int) -> String {
    bytes.withUnsafeBufferPointer { String(decoding: Self.piece(id, in: $0, starts: starts), as: UTF8.self) }
  }

  /// The bytes of piece `id`.
  private static func piece(_ id: Int, in all: UnsafeBufferPointer<UInt8>, starts: [Int32]) -> UnsafeBufferPointer<UInt8> {
    UnsafeBufferPointer(rebasing: all[Int(starts[id])..<Int(starts[id + 1])])
  }

  /// The slot holding `piece`'s id, or the empty slot where it would go (linear probing
  /// from its FNV-1a hash; the table is never full).
  private static func slot(
    of piece: UnsafeBufferPointer<UInt8>, in all: UnsafeBufferPointer<UInt8>, starts: [Int32], slots: [Int32]
  ) -> Int {
    var slot = Int(truncatingIfNeeded: StableHash.fnv1a(piece)) & (slots.count - 1)
    while slots[slot] >= 0 && !equal(piece, Self.piece(Int(slots[slot]), in: all, starts: starts)) {
      slot = (slot + 1) & (slots.count - 1)
    }
    return slot
  }

  private static func equal(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
    a.count == b.count && (a.isEmpty || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
  }
}
