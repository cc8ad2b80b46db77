// swift-tools-version:6.0
import PackageDescription

let package = Package(
  name: "xai",
  platforms: [.macOS(.v14)],
  products: [
    .executable(name: "xai", targets: ["xai"]),
    .library(name: "Tensor", targets: ["Tensor"]),
    .library(name: "Models", targets: ["Models"]),
    .library(name: "Attribution", targets: ["Attribution"]),
    .library(name: "Render", targets: ["Render"]),
    .library(name: "Pipeline", targets: ["Pipeline"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
  ],
  targets: [
    .systemLibrary(
      name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
      providers: [.apt(["libopenblas-dev"])]),
    .systemLibrary(
      name: "CJSONC", path: "Sources/CJSONC", pkgConfig: "json-c",
      providers: [.apt(["libjson-c-dev"])]),
    .systemLibrary(name: "CAllocator", path: "Sources/CAllocator"),
    // oneDNN is opened on first use (Sources/CDNNL/loader.c); its header comes from libdnnl-dev.
    .target(name: "CDNNL", linkerSettings: [.linkedLibrary("gomp"), .linkedLibrary("dl")]),
    .systemLibrary(
      name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
    .systemLibrary(
      name: "CJPEG", path: "Sources/CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg62-turbo-dev"])]),
    .target(
      name: "ImageCodecs", dependencies: ["CPNG", "CJPEG"],
      linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg")]),
    // Optimised in debug builds too: the test suite runs the kernels on real model sizes.
    .target(name: "CKernels", cSettings: [.unsafeFlags(["-O2"])], linkerSettings: [.linkedLibrary("gomp")]),
    .target(name: "Tensor", dependencies: ["CBLAS", "CDNNL", "CAllocator", "CKernels"]),
    .target(name: "Models", dependencies: ["Tensor", "CJSONC", "ImageCodecs"]),
    .target(name: "Attribution", dependencies: ["Tensor", "Models"]),
    .target(name: "Render", dependencies: ["Models", "Attribution"]),
    .target(name: "Pipeline", dependencies: ["Tensor", "Models", "Attribution", "Render"]),
    .executableTarget(
      name: "xai",
      dependencies: [
        "Tensor", "Models", "Attribution", "Render", "Pipeline",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),
    .executableTarget(
      name: "xai-bench", dependencies: ["Tensor", "Models", "Attribution", "CBLAS"],
      path: "Benchmarks/XaiBench"),
    .executableTarget(
      name: "xai-fuzz", dependencies: ["Tensor", "Models", "Attribution", "Render", "Pipeline"], path: "Fuzz/XaiFuzz"),
    .target(name: "ReferenceSupport", dependencies: ["Models"], path: "Tests/ReferenceSupport"),
    .testTarget(name: "TensorTests", dependencies: ["Tensor", "CKernels"]),
    .testTarget(name: "ModelsTests", dependencies: ["Models", "ReferenceSupport"], exclude: ["Fixtures"]),
    .testTarget(
      name: "AttributionTests", dependencies: ["Attribution", "ReferenceSupport"], exclude: ["Fixtures"]),
    .testTarget(name: "RenderTests", dependencies: ["Render"]),
    .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Models", "Attribution"]),
    .testTarget(name: "XaiCLITests", dependencies: ["xai", "xai-fuzz", "Models"]),
  ]
)
