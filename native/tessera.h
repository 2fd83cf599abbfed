// Shared declarations for the Tessera addon: the tensor handle, argument conversions and the
// error boundary. Generated op bindings (generated/ops.cpp) include only this header.
#pragma once

#include <napi.h>
#include <torch/torch.h>

#include <atomic>
#include <optional>
#include <string>
#include <vector>

namespace tessera {

// Live-handle statistics, reported to JS (leak tests watch these).
struct Stats {
  std::atomic<int64_t> liveTensors{0};
  std::atomic<int64_t> liveBytes{0};
};
Stats& stats();

// A JS handle owning one at::Tensor reference. Dispose drops the reference early; the
// finalizer drops it when V8 collects the handle. Views and grads share storage, so dropping a
// handle never invalidates another handle.
class TensorWrap : public Napi::ObjectWrap<TensorWrap> {
 public:
  static Napi::FunctionReference* ctor;
  static void Init(Napi::Env env, Napi::Object exports);
  static Napi::Value Wrap(Napi::Env env, at::Tensor t);
  static bool IsTensor(const Napi::Value& v);

  explicit TensorWrap(const Napi::CallbackInfo& info);
  ~TensorWrap() override;
  void Finalize(Napi::Env env) override;

  at::Tensor& tensor(const Napi::Env& env);
  void release(Napi::Env env);

 private:
  void set(Napi::Env env, at::Tensor t);
  at::Tensor t_;
  int64_t bytes_ = 0;
  bool live_ = false;
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);
};

class GeneratorWrap : public Napi::ObjectWrap<GeneratorWrap> {
 public:
  static Napi::FunctionReference* ctor;
  static void Init(Napi::Env env, Napi::Object exports);
  explicit GeneratorWrap(const Napi::CallbackInfo& info);
  at::Generator gen;

 private:
  Napi::Value Seed(const Napi::CallbackInfo& info);
  Napi::Value GetState(const Napi::CallbackInfo& info);
  Napi::Value SetState(const Napi::CallbackInfo& info);
};

// ---- argument conversion (throw Napi::TypeError with the argument's name on bad input) ----
at::Tensor toTensor(const Napi::Value& v, const char* name);
c10::optional<at::Tensor> toTensorOpt(const Napi::Value& v, const char* name);
std::vector<at::Tensor> toTensorVec(const Napi::Value& v, const char* name);
c10::List<c10::optional<at::Tensor>> toTensorOptList(const Napi::Value& v, const char* name);
int64_t toInt(const Napi::Value& v, const char* name);
double toDouble(const Napi::Value& v, const char* name);
bool toBool(const Napi::Value& v, const char* name);
std::string toStr(const Napi::Value& v, const char* name);
std::vector<int64_t> toIntVec(const Napi::Value& v, const char* name, size_t broadcastTo = 0);
std::vector<double> toDoubleVec(const Napi::Value& v, const char* name);
at::Scalar toScalar(const Napi::Value& v, const char* name);
at::ScalarType toDtype(const Napi::Value& v, const char* name);
at::Device toDevice(const Napi::Value& v, const char* name);
at::MemoryFormat toMemoryFormat(const Napi::Value& v, const char* name);
int64_t toReduction(const Napi::Value& v, const char* name);
at::TensorOptions toOptions(const Napi::Value& v, const char* name);
c10::optional<at::Generator> toGeneratorOpt(const Napi::Value& v, const char* name);
inline bool isNone(const Napi::Value& v) { return v.IsUndefined() || v.IsNull(); }

const char* dtypeName(at::ScalarType t);
std::string shapeString(const at::Tensor& t);

// ---- results ----
Napi::Value fromTensor(Napi::Env env, const at::Tensor& t);
Napi::Value fromTensorVec(Napi::Env env, const std::vector<at::Tensor>& v);
Napi::Value fromScalar(Napi::Env env, const at::Scalar& s);

// Runs `body`, turning any C++ exception into a JS exception. `op` and the tensor arguments'
// shapes are added to libtorch's message, so a mismatch names every shape involved.
Napi::Value guard(const Napi::CallbackInfo& info, const char* op, const std::function<Napi::Value()>& body);

void RegisterGeneratedOps(Napi::Env env, Napi::Object exports);

// allocator.cpp: caching CPU allocator for large blocks.
void InstallCachingAllocator();
size_t EmptyAllocatorCache();
size_t AllocatorCachedBytes();

}  // namespace tessera
