import Attribution

extension TextExplanation {
  /// The `xai explain --format json` object for one text (docs/json-output.md, "xai explain").
  public var json: JSONOutput {
    var members: [(String, JSONOutput)] = [
      ("model", .string(modelName)),
      ("method", .string(method.name)),
      ("detach", .strings(method.detached.map(\.rawValue))),
      ("text", .string(text)),
      ("tokens", .strings(tokens)),
      ("token_ids", .ints(encoded.ids)),
      ("target", .object([("index", .int(targetIndex)), ("label", .string(targetLabel))])),
      ("logits", .floats(logits)),
      ("probabilities", .floats(probabilities)),
      ("relevance", .floats(relevance)),
    ]
    var balance: [(String, JSONOutput)] = [
      ("sum_relevance", .float(conservation.sumRelevance)),
      ("target_logit", .float(conservation.targetLogit)),
      ("residual", .float(conservation.residual)),
    ]
    if let baseline = conservation.baselineLogit, let completeness = conservation.completenessResidual {
      balance.append(("baseline_logit", .float(baseline)))
      balance.append(("completeness_residual", .float(completeness)))
    }
    if let audit { balance += audit.jsonShares }
    members.append(("conservation", .object(balance)))
    if let audit { members.append(("audit", audit.jsonEntries)) }
    if let perturbation { members.append(("perturbation", perturbation.json)) }
    members.append(("truncated", .bool(encoded.truncated)))
    return .object(members)
  }
}
