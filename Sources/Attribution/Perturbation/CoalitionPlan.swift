import Foundation

/// The units of one input: the positions each one covers, and how they are arranged
/// (a sequence, or a grid of rows × columns for occlusion windows on images).
public struct UnitLayout: Sendable, Equatable {
  /// Positions (rows of the model input) of each unit.
  public let groups: [[Int]]
  /// [n] for a sequence, [rows, columns] for a grid (row by row).
  public let shape: [Int]

  /// Units covering `groups`, arranged as `shape` (default: a sequence).
  public init(groups: [[Int]], shape: [Int]? = nil) {
    self.groups = groups
    self.shape = shape ?? [groups.count]
    precondition(self.shape.reduce(1, *) == groups.count, "the shape does not hold every unit")
  }

  /// Number of units.
  public var count: Int { groups.count }
}

/// Inner products of each unit's rows, for LIME's cosine distance between the input and
/// a perturbed input (restricted to the units' rows): Σ‖x‖², Σ‖b‖² and Σ x·b over the
/// rows of each unit (x the input, b the baseline).
public struct UnitGeometry: Sendable, Equatable {
  /// Σ ‖x_r‖² over each unit's rows.
  public let input: [Double]
  /// Σ ‖b_r‖² over each unit's rows.
  public let baseline: [Double]
  /// Σ x_r·b_r over each unit's rows.
  public let cross: [Double]

  public init(input: [Double], baseline: [Double], cross: [Double]) {
    self.input = input
    self.baseline = baseline
    self.cross = cross
  }

  /// 1 − cos(x, x′) for the input x and x′ with the units outside `present` from the
  /// baseline (0 similarity when either vector is zero).
  func cosineDistance(_ present: Coalition) -> Double {
    var dot = 0.0
    var perturbed = 0.0
    var original = 0.0
    for unit in 0..<input.count {
      original += input[unit]
      if present.contains(unit) {
        dot += input[unit]
        perturbed += input[unit]
      } else {
        dot += cross[unit]
        perturbed += baseline[unit]
      }
    }
    let norms = (original * perturbed).squareRoot()
    return 1 - (norms > 0 ? dot / norms : 0)
  }
}

/// How a perturbation method sampled or enumerated its coalitions.
public enum PerturbationScheme: Sendable, Equatable {
  /// Occlusion windows of `window` (per side on a grid) every `stride` units.
  case windows(window: Int, stride: Int, count: Int)
  /// Each unit alone.
  case eachUnit
  /// Every coalition (exact Shapley values; KernelSHAP with enough samples).
  case allCoalitions
  /// `samples` random orders (Shapley) or coalitions (KernelSHAP, LIME) from `seed`.
  case sampled(samples: Int, seed: UInt64)
}

/// The coalitions one method evaluates on one input, and how their values become one
/// attribution per unit.
struct CoalitionPlan {
  /// Distinct coalitions: 0 is the input, 1 the baseline.
  let coalitions: [Coalition]
  /// How they were chosen.
  let scheme: PerturbationScheme
  /// φ per unit from v(coalition) in the order of `coalitions`.
  let attribute: ([Double]) -> [Double]

  /// The plan of `kind` with `settings` on units laid out as `layout` (`geometry`: LIME's
  /// distances). Throws `PerturbationLimitError` when the settings cannot work here.
  static func make(
    kind: MethodKind, settings given: PerturbationSettings, layout: UnitLayout, geometry: UnitGeometry?
  ) throws -> CoalitionPlan {
    let settings = given.resolved(for: kind)
    try check(kind: kind, settings: settings, layout: layout)
    let n = layout.count
    switch kind {
    case .occlusion: return occlusion(layout: layout, settings: settings)
    case .featureAblation: return ablation(units: n)
    case .shapley:
      guard let samples = settings.samples else { return exactShapley(units: n) }
      return sampledShapley(units: n, orders: samples, seed: settings.seed)
    case .kernelShap:
      return kernelShap(
        units: n, samples: settings.samples ?? PerturbationSettings.kernelShapSamples, seed: settings.seed)
    case .lime:
      return lime(
        units: n, samples: settings.samples ?? PerturbationSettings.limeSamples, seed: settings.seed,
        geometry: geometry!)
    case .lrp, .attnlrp, .gradxinput, .gradient, .integratedGradients:
      preconditionFailure("\(kind.rawValue) is not a perturbation method")
    }
  }

  /// Throws the `PerturbationLimitError` that `make` would throw for `kind` with
  /// `settings` on `layout`, without drawing or enumerating a coalition (a data-set
  /// evaluation checks every input before it runs one).
  static func check(kind: MethodKind, settings given: PerturbationSettings, layout: UnitLayout) throws {
    let settings = given.resolved(for: kind)
    let n = layout.count
    guard n > 0 else { throw PerturbationLimitError("This input has no units to perturb.") }
    for (name, value) in [("window", settings.window), ("stride", settings.stride), ("samples", settings.samples)] {
      if let value, value < 1 { throw PerturbationLimitError("--\(name) must be at least 1; got \(value).") }
    }
    if let samples = settings.samples, samples > PerturbationSettings.largestSamples {
      throw PerturbationLimitError(
        "--samples must be at most \(PerturbationSettings.largestSamples); got \(samples).")
    }
    switch kind {
    case .occlusion:
      let (window, stride) = occlusionWindow(layout: layout, settings: settings)
      let grid = layout.shape.count == 2
      let what = grid ? "\(layout.shape[0])×\(layout.shape[1]) patch grid" : "\(layout.count) units"
      if layout.shape.contains(where: { window > $0 }) {
        throw PerturbationLimitError(
          "The occlusion window of \(grid ? "\(window)×\(window) patches" : "\(window) units") is larger than this input's \(what); give --window \(layout.shape.min()!) or less."
        )
      }
      if layout.shape.contains(where: { $0 > window }) && stride > window {
        throw PerturbationLimitError(
          "--stride \(stride) is larger than --window \(window), so the units between windows would never be occluded; give a stride of at most \(window)."
        )
      }
      let windows = layout.shape.reduce(1) { $0 * ((($1 - window + stride - 1) / stride) + 1) }
      try checkEvaluations(windows + 2, what: "Occlusion")
    case .featureAblation:
      try checkEvaluations(n + 2, what: "Feature ablation")
    case .shapley:
      if let orders = settings.samples {
        try checkEvaluations(
          orders.multipliedReportingOverflow(by: max(n - 1, 0)).overflow ? .max : orders * max(n - 1, 0) + 2,
          what: "Shapley value sampling with \(orders) orders", sampled: true)
      } else {
        let limit = PerturbationSettings.exactShapleyLimit
        guard n <= limit else {
          throw PerturbationLimitError(
            "Exact Shapley values evaluate all 2^n coalitions, and xai enumerates them for at most \(limit) units (\(1 << limit) evaluations); this input has \(n) units, so give --samples N for permutation sampling."
          )
        }
      }
    case .kernelShap:
      let samples = settings.samples ?? PerturbationSettings.kernelShapSamples
      if !coversEveryCoalition(units: n, samples: samples) {
        try checkEvaluations(samples + 2, what: "KernelSHAP with \(samples) samples", sampled: true)
        try checkFit(samples: samples, units: n, what: "KernelSHAP")
      }
    case .lime:
      let samples = settings.samples ?? PerturbationSettings.limeSamples
      try checkEvaluations(samples + 2, what: "LIME with \(samples) samples", sampled: true)
      try checkFit(samples: samples, units: n, what: "LIME")
    case .lrp, .attnlrp, .gradxinput, .gradient, .integratedGradients:
      preconditionFailure("\(kind.rawValue) is not a perturbation method")
    }
  }

  /// Whether KernelSHAP's `samples` reach every proper coalition of `n` units (then it
  /// takes each once with its kernel weight: the exact Shapley value).
  static func coversEveryCoalition(units n: Int, samples: Int) -> Bool {
    n < 2 || (n <= 62 && samples >= (1 << n) - 2)
  }

  /// Occlusion's window side and stride for `layout` (the defaults where not given).
  static func occlusionWindow(layout: UnitLayout, settings: PerturbationSettings) -> (window: Int, stride: Int) {
    let grid = layout.shape.count == 2
    return (settings.window ?? (grid ? PerturbationSettings.gridWindow : PerturbationSettings.sequenceWindow), settings.stride ?? 1)
  }

  // MARK: Occlusion and feature ablation

  /// Window starts along a side of `length` units: 0, s, 2s, … — ⌈(length − w)/s⌉ + 1 of
  /// them, the last one cut at the end (as Captum's Occlusion places them).
  static func windowStarts(length: Int, window: Int, stride: Int) -> [Int] {
    let shifts = (length - window + stride - 1) / stride + 1
    return (0..<shifts).map { $0 * stride }
  }

  static func occlusion(layout: UnitLayout, settings: PerturbationSettings) -> CoalitionPlan {
    let grid = layout.shape.count == 2
    let (window, stride) = occlusionWindow(layout: layout, settings: settings)
    let n = layout.count
    var set = CoalitionSet(units: n)
    var windows: [(slot: Int, units: [Int])] = []
    let rowStarts = grid ? windowStarts(length: layout.shape[0], window: window, stride: stride) : [0]
    let columns = layout.shape[grid ? 1 : 0]
    let columnStarts = windowStarts(length: columns, window: window, stride: stride)
    for top in rowStarts {
      for left in columnStarts {
        var units: [Int] = []
        let rows = grid ? top..<min(top + window, layout.shape[0]) : 0..<1
        for row in rows {
          for column in left..<min(left + window, columns) { units.append(row * columns + column) }
        }
        var coalition = Coalition(units: n, full: true)
        for unit in units { coalition.remove(unit) }
        windows.append((set.index(of: coalition), units))
      }
    }
    return CoalitionPlan(
      coalitions: set.coalitions, scheme: .windows(window: window, stride: stride, count: windows.count)
    ) { values in
      var total = [Double](repeating: 0, count: n)
      var covered = [Double](repeating: 0, count: n)
      for (slot, units) in windows {
        let drop = values[CoalitionSet.full] - values[slot]
        for unit in units {
          total[unit] += drop
          covered[unit] += 1
        }
      }
      return zip(total, covered).map { $1 > 0 ? $0 / $1 : 0 }
    }
  }

  static func ablation(units n: Int) -> CoalitionPlan {
    var set = CoalitionSet(units: n)
    let slots = (0..<n).map { unit -> Int in
      var coalition = Coalition(units: n, full: true)
      coalition.remove(unit)
      return set.index(of: coalition)
    }
    return CoalitionPlan(coalitions: set.coalitions, scheme: .eachUnit) { values in
      slots.map { values[CoalitionSet.full] - values[$0] }
    }
  }

  // MARK: Shapley values

  /// 1/(n·C(n−1, s)) = s!(n−s−1)!/n! for s = 0…n−1, in float64.
  static func shapleyWeights(units n: Int) -> [Double] {
    var binomial = 1.0  // C(n−1, s)
    var weights: [Double] = []
    for s in 0..<n {
      weights.append(1 / (Double(n) * binomial))
      binomial = binomial * Double(n - 1 - s) / Double(s + 1)
    }
    return weights
  }

  static func exactShapley(units n: Int) -> CoalitionPlan {
    var set = CoalitionSet(units: n)
    let slots = (0..<(1 << n)).map { set.index(of: Coalition(units: n, mask: UInt64($0))) }
    let weights = shapleyWeights(units: n)
    return CoalitionPlan(coalitions: set.coalitions, scheme: .allCoalitions) { values in
      var phi = [Double](repeating: 0, count: n)
      for mask in 0..<((1 << n) - 1) {
        let value = values[slots[mask]]
        let weight = weights[mask.nonzeroBitCount]
        for unit in 0..<n where mask & (1 << unit) == 0 {
          phi[unit] += weight * (values[slots[mask | (1 << unit)]] - value)
        }
      }
      return phi
    }
  }

  /// `sampled`: the count follows from the samples given, so fewer of them is the fix.
  static func checkEvaluations(_ count: Int, what: String, sampled: Bool = false) throws {
    guard count <= PerturbationSettings.largestEvaluations else {
      throw PerturbationLimitError(
        "\(what) would take \(count) model evaluations for this input, more than xai's limit of \(PerturbationSettings.largestEvaluations)\(sampled ? "; give fewer --samples" : "")."
      )
    }
  }

  /// Most samples × units a surrogate fit holds (512 MB of float64).
  static let largestFit = 1 << 26

  static func checkFit(samples: Int, units: Int, what: String) throws {
    guard samples.multipliedReportingOverflow(by: units).partialValue <= largestFit,
      !samples.multipliedReportingOverflow(by: units).overflow
    else {
      throw PerturbationLimitError(
        "\(what)'s fit on \(samples) samples of \(units) units would hold more than \(largestFit) values; give fewer --samples."
      )
    }
  }

  static func sampledShapley(units n: Int, orders: Int, seed: UInt64) -> CoalitionPlan {
    var random = PerturbationRandom(seed: seed, stream: "shapley")
    var set = CoalitionSet(units: n)
    // Per order: the units in order and the slot of each prefix (0 = empty … n = full).
    var sequence: [Int] = []
    var prefixes: [Int] = []
    sequence.reserveCapacity(orders * n)
    prefixes.reserveCapacity(orders * (n + 1))
    for _ in 0..<orders {
      let order = random.permutation(n)
      var coalition = Coalition(units: n, full: false)
      prefixes.append(CoalitionSet.empty)
      for (k, unit) in order.enumerated() {
        coalition.insert(unit)
        prefixes.append(k == n - 1 ? CoalitionSet.full : set.index(of: coalition))
      }
      sequence += order
    }
    return CoalitionPlan(coalitions: set.coalitions, scheme: .sampled(samples: orders, seed: seed)) { values in
      var phi = [Double](repeating: 0, count: n)
      for o in 0..<orders {
        for k in 0..<n {
          phi[sequence[o * n + k]] += values[prefixes[o * (n + 1) + k + 1]] - values[prefixes[o * (n + 1) + k]]
        }
      }
      return phi.map { $0 / Double(orders) }
    }
  }

  // MARK: KernelSHAP

  static func kernelShap(units n: Int, samples: Int, seed: UInt64) -> CoalitionPlan {
    var set = CoalitionSet(units: n)
    // Every proper non-empty coalition once, with the Shapley kernel weight, when the
    // samples would cover them: then the fit is the exact Shapley value.
    if coversEveryCoalition(units: n, samples: samples) {
      var draws: [(slot: Int, weight: Double)] = []
      if n >= 2 {
        var binomial = [Double](repeating: 1, count: n + 1)
        for k in 1...n { binomial[k] = binomial[k - 1] * Double(n - k + 1) / Double(k) }
        for mask in 1..<((1 << n) - 1) {
          let k = mask.nonzeroBitCount
          let weight = Double(n - 1) / (binomial[k] * Double(k) * Double(n - k))
          draws.append((set.index(of: Coalition(units: n, mask: UInt64(mask))), weight))
        }
      }
      let coalitions = set.coalitions
      return CoalitionPlan(coalitions: coalitions, scheme: .allCoalitions) { values in
        constrainedShapleyFit(units: n, draws: draws, coalitions: coalitions, values: values)
      }
    }
    var random = PerturbationRandom(seed: seed, stream: "kernel-shap")
    // Sizes k = 1…n−1 with probability ∝ (n − 1)/(k(n − k)); then k units uniformly.
    let sizeWeights = (1..<n).map { Double(n - 1) / (Double($0) * Double(n - $0)) }
    let total = sizeWeights.reduce(0, +)
    var draws: [(slot: Int, weight: Double)] = []
    draws.reserveCapacity(samples)
    var pool = Array(0..<n)
    for _ in 0..<samples {
      var u = random.unit() * total
      var size = n - 1
      for (k, weight) in sizeWeights.enumerated() {
        if u < weight {
          size = k + 1
          break
        }
        u -= weight
      }
      var coalition = Coalition(units: n, full: false)
      for i in 0..<size {
        pool.swapAt(i, i + random.below(n - i))
        coalition.insert(pool[i])
      }
      draws.append((set.index(of: coalition), 1))
    }
    let coalitions = set.coalitions
    return CoalitionPlan(coalitions: coalitions, scheme: .sampled(samples: samples, seed: seed)) { values in
      constrainedShapleyFit(units: n, draws: draws, coalitions: coalitions, values: values)
    }
  }

  /// argmin_φ Σ_j w_j (v_j − v(∅) − z_j·φ)² subject to Σ φ = v(N) − v(∅): the last unit's φ
  /// is eliminated through the constraint and the normal equations solved in float64.
  static func constrainedShapleyFit(
    units n: Int, draws: [(slot: Int, weight: Double)], coalitions: [Coalition], values: [Double]
  ) -> [Double] {
    let empty = values[CoalitionSet.empty]
    let difference = values[CoalitionSet.full] - empty
    guard n > 1 else { return [difference] }
    let m = n - 1
    var normal = [Double](repeating: 0, count: m * m)
    var right = [Double](repeating: 0, count: m)
    var row = [Double](repeating: 0, count: m)
    for (slot, weight) in draws {
      let coalition = coalitions[slot]
      let last: Double = coalition.contains(m) ? 1 : 0
      for i in 0..<m { row[i] = (coalition.contains(i) ? 1 : 0) - last }
      let target = values[slot] - empty - last * difference
      for i in 0..<m where row[i] != 0 {
        right[i] += weight * row[i] * target
        for j in 0..<m where row[j] != 0 { normal[i * m + j] += weight * row[i] * row[j] }
      }
    }
    var phi = SurrogateFit.solveSymmetric(normal, right, size: m)
    phi.append(difference - phi.reduce(0, +))
    return phi
  }

  // MARK: LIME

  static func lime(units n: Int, samples: Int, seed: UInt64, geometry: UnitGeometry) -> CoalitionPlan {
    var random = PerturbationRandom(seed: seed, stream: "lime")
    var set = CoalitionSet(units: n)
    var draws: [Int] = []
    draws.reserveCapacity(samples)
    for _ in 0..<samples {
      var coalition = Coalition(units: n, full: false)
      for unit in 0..<n where random.coin() { coalition.insert(unit) }
      draws.append(set.index(of: coalition))
    }
    let coalitions = set.coalitions
    let width = PerturbationSettings.limeKernelWidth
    return CoalitionPlan(coalitions: coalitions, scheme: .sampled(samples: samples, seed: seed)) { values in
      let weights = draws.map { slot -> Double in
        let d = geometry.cosineDistance(coalitions[slot])
        return Foundation.exp(-d * d / (2 * width * width))
      }
      return SurrogateFit.lasso(
        features: draws.map { coalitions[$0] }, targets: draws.map { values[$0] }, weights: weights,
        alpha: PerturbationSettings.limeAlpha)
    }
  }
}
