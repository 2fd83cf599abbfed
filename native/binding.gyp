{
  "targets": [
    {
      "target_name": "tessera",
      "sources": [
        "core.cpp",
        "allocator.cpp",
        "generated/ops_0.cpp",
        "generated/ops_1.cpp",
        "generated/ops_2.cpp",
        "generated/ops_index.cpp"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node find-libtorch.cjs include)"
      ],
      "defines": ["NAPI_CPP_EXCEPTIONS", "NAPI_VERSION=8", "<!@(node find-libtorch.cjs defines)"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++14"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-Wno-unused-parameter", "-Wno-deprecated-declarations"],
      "libraries": [
        "-L<!(node find-libtorch.cjs lib)",
        "-Wl,-rpath,<!(node find-libtorch.cjs lib)",
        "<!@(node find-libtorch.cjs libs)"
      ]
    }
  ]
}
