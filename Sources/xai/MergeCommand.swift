import ArgumentParser
import Foundation
import Models
import Pipeline

/// `xai merge`: shards of a batch run back into one file in input order.
struct MergeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "merge",
    abstract: "Merge the shard outputs of 'xai batch --shard I/N' into one file in input order.",
    discussion: """
      Reads every shard as a stream and interleaves their lines by example index, so \
      that the result is byte for byte the output of one unsharded run. Refuses shards \
      that end in a cut-off line (resume them first), that are out of order, or that \
      hold the same example twice.

      Example:
        xai merge out.jsonl shard-0.jsonl shard-1.jsonl shard-2.jsonl shard-3.jsonl
      """)

  @Argument(help: "The merged file to write.")
  var output: String

  @Argument(help: "The shard files.")
  var shards: [String]

  func validate() throws {
    if shards.isEmpty { throw ValidationError("Give the shard files after the output file.") }
    if shards.contains(output) { throw ValidationError("The output \(output) is also given as a shard.") }
  }

  func run() throws {
    try reportingErrors {
      try checkWritable(output, inputs: shards)
      if FileManager.default.fileExists(atPath: output) {
        throw ValidationError("\(output) already exists; remove it or give another name for the merged file.")
      }
      let lines = try ShardMerge.merge(shards, into: output)
      printError("xai: merged \(lines) lines from \(shards.count) shards into \(output).")
    }
  }
}
