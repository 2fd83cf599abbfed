// Hand-written part of the addon: tensor handles, conversions, errors, autograd, RNG, indexing,
// memory statistics. Everything that is "call one at:: function" lives in the op table instead.
#include "tessera.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>

#include <cstring>
#include <dlfcn.h>
#include <sstream>

namespace tessera {

Stats& stats() {
  static Stats s;
  return s;
}

// ------------------------------------------------------------------ TensorWrap
Napi::FunctionReference* TensorWrap::ctor = nullptr;

void TensorWrap::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function f = DefineClass(env, "NativeTensor",
                                 {InstanceMethod("dispose", &TensorWrap::Dispose),
                                  InstanceMethod("isDisposed", &TensorWrap::IsDisposed)});
  ctor = new Napi::FunctionReference(Napi::Persistent(f));
  exports.Set("NativeTensor", f);
}

TensorWrap::TensorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorWrap>(info) {}

// GC path: V8 collected a handle that was never disposed. Give back the external-memory
// accounting so V8's heuristics don't see phantom native bytes.
void TensorWrap::Finalize(Napi::Env env) { release(env); }

TensorWrap::~TensorWrap() {
  if (live_) {  // only if Finalize did not run (environment teardown)
    stats().liveTensors--;
    stats().liveBytes -= bytes_;
  }
}

// Type tag of tensor handles: a cheaper check than instanceof, and immune to prototype tricks.
static const napi_type_tag kTensorTag = {0x7e55e7a0c0deULL, 0x1b2c3d4e5f60ULL};

// V8 is told about native bytes in batches of >= 1 MiB: the call is not free, and per-tensor
// precision doesn't change when V8 decides to collect.
static void reportExternal(Napi::Env env, int64_t delta) {
  static int64_t pending = 0;
  pending += delta;
  if (pending >= (1 << 20) || pending <= -(1 << 20)) {
    Napi::MemoryManagement::AdjustExternalMemory(env, pending);
    pending = 0;
  }
}

static int64_t ownedBytes(const at::Tensor& t) {
  if (!t.defined() || t.is_view() || !t.has_storage()) return 0;
  return static_cast<int64_t>(t.storage().nbytes());
}

void TensorWrap::set(Napi::Env env, at::Tensor t) {
  t_ = std::move(t);
  bytes_ = ownedBytes(t_);
  live_ = true;
  stats().liveTensors++;
  stats().liveBytes += bytes_;
  if (bytes_ > 0) reportExternal(env, bytes_);
  napi_type_tag_object(env, Value(), &kTensorTag);
}

void TensorWrap::release(Napi::Env env) {
  if (!live_) return;
  live_ = false;
  stats().liveTensors--;
  stats().liveBytes -= bytes_;
  if (bytes_ > 0) reportExternal(env, -bytes_);
  bytes_ = 0;
  t_ = at::Tensor();
}

at::Tensor& TensorWrap::tensor(const Napi::Env& env) {
  if (!live_) throw Napi::Error::New(env, "tensor used after dispose()");
  return t_;
}

Napi::Value TensorWrap::Wrap(Napi::Env env, at::Tensor t) {
  Napi::Object o = ctor->New({});
  Unwrap(o)->set(env, std::move(t));
  return o;
}

bool TensorWrap::IsTensor(const Napi::Value& v) {
  if (!v.IsObject()) return false;
  bool ok = false;
  napi_check_object_type_tag(v.Env(), v, &kTensorTag, &ok);
  return ok;
}

Napi::Value TensorWrap::Dispose(const Napi::CallbackInfo& info) {
  release(info.Env());
  return info.Env().Undefined();
}

Napi::Value TensorWrap::IsDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !live_);
}

// ------------------------------------------------------------------ GeneratorWrap
Napi::FunctionReference* GeneratorWrap::ctor = nullptr;

void GeneratorWrap::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function f = DefineClass(env, "NativeGenerator",
                                 {InstanceMethod("seed", &GeneratorWrap::Seed),
                                  InstanceMethod("getState", &GeneratorWrap::GetState),
                                  InstanceMethod("setState", &GeneratorWrap::SetState)});
  ctor = new Napi::FunctionReference(Napi::Persistent(f));
  exports.Set("NativeGenerator", f);
}

GeneratorWrap::GeneratorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GeneratorWrap>(info) {
  uint64_t seed = info.Length() > 0 && info[0].IsNumber() ? static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value())
                                                          : 67280421310721ULL;
  gen = at::make_generator<at::CPUGeneratorImpl>(seed);
}

Napi::Value GeneratorWrap::Seed(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_current_seed(static_cast<uint64_t>(toInt(info[0], "seed")));
  return info.Env().Undefined();
}

Napi::Value GeneratorWrap::GetState(const Napi::CallbackInfo& info) {
  return guard(info, "Generator.getState", [&]() {
    std::lock_guard<std::mutex> lock(gen.mutex());
    return fromTensor(info.Env(), gen.get_state());
  });
}

Napi::Value GeneratorWrap::SetState(const Napi::CallbackInfo& info) {
  return guard(info, "Generator.setState", [&]() {
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(toTensor(info[0], "state"));
    return info.Env().Undefined();
  });
}

// ------------------------------------------------------------------ conversions
static Napi::Env envOf(const Napi::Value& v) { return v.Env(); }

[[noreturn]] static void typeError(const Napi::Value& v, const char* name, const char* want) {
  throw Napi::TypeError::New(envOf(v), std::string("argument '") + name + "' must be " + want);
}

at::Tensor toTensor(const Napi::Value& v, const char* name) {
  if (TensorWrap::IsTensor(v)) return TensorWrap::Unwrap(v.As<Napi::Object>())->tensor(v.Env());
  if (v.IsNumber() || v.IsBoolean()) {
    // A JS number behaves like a Python scalar in type promotion (a "wrapped number").
    at::Tensor t = c10::scalar_to_tensor(toScalar(v, name));
    t.unsafeGetTensorImpl()->set_wrapped_number(true);
    return t;
  }
  typeError(v, name, "a Tensor");
}

c10::optional<at::Tensor> toTensorOpt(const Napi::Value& v, const char* name) {
  if (isNone(v)) return c10::nullopt;
  return toTensor(v, name);
}

std::vector<at::Tensor> toTensorVec(const Napi::Value& v, const char* name) {
  if (!v.IsArray()) typeError(v, name, "an array of Tensors");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(toTensor(a.Get(i), name));
  return out;
}

c10::List<c10::optional<at::Tensor>> toTensorOptList(const Napi::Value& v, const char* name) {
  if (!v.IsArray()) typeError(v, name, "an array of Tensors or nulls");
  Napi::Array a = v.As<Napi::Array>();
  c10::List<c10::optional<at::Tensor>> out;
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(toTensorOpt(a.Get(i), name));
  return out;
}

int64_t toInt(const Napi::Value& v, const char* name) {
  if (v.IsBigInt()) {
    bool lossless;
    return v.As<Napi::BigInt>().Int64Value(&lossless);
  }
  if (!v.IsNumber()) typeError(v, name, "an integer");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d))) typeError(v, name, "an integer");
  return static_cast<int64_t>(d);
}

double toDouble(const Napi::Value& v, const char* name) {
  if (!v.IsNumber()) typeError(v, name, "a number");
  return v.As<Napi::Number>().DoubleValue();
}

bool toBool(const Napi::Value& v, const char* name) {
  if (!v.IsBoolean()) typeError(v, name, "a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::string toStr(const Napi::Value& v, const char* name) {
  if (!v.IsString()) typeError(v, name, "a string");
  return v.As<Napi::String>().Utf8Value();
}

std::vector<int64_t> toIntVec(const Napi::Value& v, const char* name, size_t broadcastTo) {
  if (v.IsNumber() && broadcastTo > 0) return std::vector<int64_t>(broadcastTo, toInt(v, name));
  if (!v.IsArray()) typeError(v, name, "an array of integers");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out[i] = toInt(a.Get(i), name);
  return out;
}

std::vector<double> toDoubleVec(const Napi::Value& v, const char* name) {
  if (!v.IsArray()) typeError(v, name, "an array of numbers");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<double> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out[i] = toDouble(a.Get(i), name);
  return out;
}

at::Scalar toScalar(const Napi::Value& v, const char* name) {
  if (v.IsBoolean()) return at::Scalar(v.As<Napi::Boolean>().Value());
  if (v.IsBigInt()) return at::Scalar(toInt(v, name));
  if (!v.IsNumber()) typeError(v, name, "a number");
  double d = v.As<Napi::Number>().DoubleValue();
  // Integral JS numbers act as Python ints (int tensors stay int); others as Python floats.
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9007199254740992.0)
    return at::Scalar(static_cast<int64_t>(d));
  return at::Scalar(d);
}

struct DtypeEntry {
  const char* name;
  at::ScalarType type;
};
static const DtypeEntry kDtypes[] = {
    {"float32", at::kFloat}, {"float64", at::kDouble}, {"float16", at::kHalf}, {"bfloat16", at::kBFloat16},
    {"int64", at::kLong},    {"int32", at::kInt},      {"int16", at::kShort},  {"int8", at::kChar},
    {"uint8", at::kByte},    {"bool", at::kBool},
};

at::ScalarType toDtype(const Napi::Value& v, const char* name) {
  std::string s = toStr(v, name);
  for (const auto& e : kDtypes)
    if (s == e.name) return e.type;
  throw Napi::TypeError::New(v.Env(), "unknown dtype '" + s + "' for argument '" + name +
                                          "' (float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, bool)");
}

const char* dtypeName(at::ScalarType t) {
  for (const auto& e : kDtypes)
    if (t == e.type) return e.name;
  return c10::toString(t);
}

at::Device toDevice(const Napi::Value& v, const char* name) {
  std::string s = toStr(v, name);
  try {
    return at::Device(s);
  } catch (const std::exception&) {
    throw Napi::TypeError::New(v.Env(), "unknown device '" + s + "' for argument '" + name + "' (cpu, cuda, cuda:N)");
  }
}

at::MemoryFormat toMemoryFormat(const Napi::Value& v, const char* name) {
  std::string s = toStr(v, name);
  if (s == "contiguous") return at::MemoryFormat::Contiguous;
  if (s == "channels_last") return at::MemoryFormat::ChannelsLast;
  if (s == "preserve") return at::MemoryFormat::Preserve;
  throw Napi::TypeError::New(v.Env(), "unknown memory format '" + s + "' (contiguous, channels_last, preserve)");
}

int64_t toReduction(const Napi::Value& v, const char* name) {
  std::string s = toStr(v, name);
  if (s == "none") return at::Reduction::None;
  if (s == "mean") return at::Reduction::Mean;
  if (s == "sum") return at::Reduction::Sum;
  throw Napi::TypeError::New(v.Env(), "unknown reduction '" + s + "' (none, mean, sum)");
}

at::TensorOptions toOptions(const Napi::Value& v, const char* name) {
  at::TensorOptions o;  // no dtype: libtorch infers it (arange of ints is int64) or uses float32
  if (isNone(v)) return o;
  if (!v.IsObject()) typeError(v, name, "an options object {dtype, device, requiresGrad}");
  Napi::Object obj = v.As<Napi::Object>();
  if (!isNone(obj.Get("dtype"))) o = o.dtype(toDtype(obj.Get("dtype"), "dtype"));
  if (!isNone(obj.Get("device"))) o = o.device(toDevice(obj.Get("device"), "device"));
  if (!isNone(obj.Get("requiresGrad"))) o = o.requires_grad(toBool(obj.Get("requiresGrad"), "requiresGrad"));
  return o;
}

c10::optional<at::Generator> toGeneratorOpt(const Napi::Value& v, const char* name) {
  if (isNone(v)) return c10::nullopt;
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(GeneratorWrap::ctor->Value()))
    typeError(v, name, "a Generator");
  return GeneratorWrap::Unwrap(v.As<Napi::Object>())->gen;
}

std::string shapeString(const at::Tensor& t) {
  if (!t.defined()) return "undefined";
  std::ostringstream s;
  s << "[";
  for (int64_t i = 0; i < t.dim(); i++) s << (i ? ", " : "") << t.size(i);
  s << "]";
  return s.str();
}

Napi::Value fromTensor(Napi::Env env, const at::Tensor& t) {
  if (!t.defined()) return env.Undefined();
  return TensorWrap::Wrap(env, t);
}

Napi::Value fromTensorVec(Napi::Env env, const std::vector<at::Tensor>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); i++) a.Set(static_cast<uint32_t>(i), fromTensor(env, v[i]));
  return a;
}

Napi::Value fromScalar(Napi::Env env, const at::Scalar& s) {
  if (s.isBoolean()) return Napi::Boolean::New(env, s.toBool());
  if (s.isIntegral(false)) return Napi::Number::New(env, static_cast<double>(s.toLong()));
  return Napi::Number::New(env, s.toDouble());
}

// ------------------------------------------------------------------ errors
static std::string cleanMessage(const std::string& raw) {
  std::string m = raw;
  size_t cut = m.find("Exception raised from");
  if (cut != std::string::npos) m = m.substr(0, cut);
  for (char& c : m)
    if (c == '\n') c = ' ';
  while (!m.empty() && (m.back() == ' ' || m.back() == '\n')) m.pop_back();
  return m;
}

static void collectShapes(const Napi::Value& v, std::vector<std::string>& out, int depth) {
  if (TensorWrap::IsTensor(v)) {
    TensorWrap* w = TensorWrap::Unwrap(v.As<Napi::Object>());
    try {
      out.push_back(shapeString(w->tensor(v.Env())));
    } catch (...) {
      out.push_back("disposed");
    }
  } else if (v.IsArray() && depth == 0) {
    Napi::Array a = v.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length() && i < 16; i++) collectShapes(a.Get(i), out, depth + 1);
  }
}

Napi::Value guard(const Napi::CallbackInfo& info, const char* op, const std::function<Napi::Value()>& body) {
  std::string msg;
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    msg = cleanMessage(e.what_without_backtrace());
  } catch (const std::exception& e) {
    msg = cleanMessage(e.what());
  } catch (...) {
    msg = "unknown native error";
  }
  std::vector<std::string> shapes;
  for (size_t i = 0; i < info.Length(); i++) collectShapes(info[i], shapes, 0);
  std::string full = std::string(op) + ": " + msg;
  if (!shapes.empty()) {
    full += " (tensor shapes: ";
    for (size_t i = 0; i < shapes.size(); i++) full += (i ? ", " : "") + shapes[i];
    full += ")";
  }
  throw Napi::Error::New(info.Env(), full);
}

// ------------------------------------------------------------------ hand-written functions
#define FN(name) static Napi::Value name(const Napi::CallbackInfo& info)
#define GUARD(opname) return guard(info, opname, [&]() -> Napi::Value
#define END_GUARD )

// fromBuffer(typedArray, shape, dtype): copies the bytes into a new CPU tensor.
FN(FromBuffer) {
  GUARD("fromBuffer") {
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray() && !info[0].IsBuffer() && !info[0].IsArrayBuffer())
      throw Napi::TypeError::New(env, "fromBuffer: data must be a TypedArray, Buffer or ArrayBuffer");
    const uint8_t* data;
    size_t len;
    if (info[0].IsArrayBuffer()) {
      auto ab = info[0].As<Napi::ArrayBuffer>();
      data = static_cast<const uint8_t*>(ab.Data());
      len = ab.ByteLength();
    } else {
      auto ta = info[0].As<Napi::TypedArray>();
      data = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
      len = ta.ByteLength();
    }
    auto shape = toIntVec(info[1], "shape");
    at::ScalarType dt = toDtype(info[2], "dtype");
    int64_t numel = 1;
    for (auto s : shape) {
      if (s < 0) throw Napi::RangeError::New(env, "fromBuffer: negative dimension in shape");
      if (s > 0 && numel > INT64_MAX / s) throw Napi::RangeError::New(env, "fromBuffer: shape has too many elements");
      numel *= s;
    }
    size_t need = static_cast<size_t>(numel) * c10::elementSize(dt);
    if (need != len)
      throw Napi::RangeError::New(env, "fromBuffer: shape " + std::to_string(numel) + " elements of " + dtypeName(dt) +
                                           " needs " + std::to_string(need) + " bytes, got " + std::to_string(len));
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dt));
    if (len) std::memcpy(t.data_ptr(), data, len);
    return fromTensor(env, t);
  } END_GUARD;
}

// toBuffer(t): a copy of the tensor's elements (CPU, contiguous) as an ArrayBuffer.
FN(ToBuffer) {
  GUARD("toBuffer") {
    at::Tensor t = toTensor(info[0], "tensor").detach().to(at::kCPU).contiguous();
    size_t len = t.numel() * t.element_size();
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(info.Env(), len);
    if (len) std::memcpy(ab.Data(), t.data_ptr(), len);
    return ab;
  } END_GUARD;
}

FN(Shape) {
  GUARD("shape") {
    Napi::Env env = info.Env();
    const at::Tensor& t = toTensor(info[0], "tensor");
    Napi::Array shape = Napi::Array::New(env, t.dim());
    for (int64_t i = 0; i < t.dim(); i++) shape.Set(static_cast<uint32_t>(i), Napi::Number::New(env, t.size(i)));
    return shape;
  } END_GUARD;
}

FN(Strides) {
  GUARD("strides") {
    Napi::Env env = info.Env();
    const at::Tensor& t = toTensor(info[0], "tensor");
    Napi::Array a = Napi::Array::New(env, t.dim());
    for (int64_t i = 0; i < t.dim(); i++) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, t.stride(i)));
    return a;
  } END_GUARD;
}

FN(Dtype) {
  GUARD("dtype") { return Napi::String::New(info.Env(), dtypeName(toTensor(info[0], "tensor").scalar_type())); } END_GUARD;
}
FN(DeviceOf) {
  GUARD("device") { return Napi::String::New(info.Env(), toTensor(info[0], "tensor").device().str()); } END_GUARD;
}
FN(RequiresGrad) {
  GUARD("requiresGrad") { return Napi::Boolean::New(info.Env(), toTensor(info[0], "tensor").requires_grad()); } END_GUARD;
}
FN(SetRequiresGrad) {
  GUARD("setRequiresGrad") {
    toTensor(info[0], "tensor").set_requires_grad(toBool(info[1], "requiresGrad"));
    return info.Env().Undefined();
  } END_GUARD;
}
FN(IsLeaf) {
  GUARD("isLeaf") { return Napi::Boolean::New(info.Env(), toTensor(info[0], "tensor").is_leaf()); } END_GUARD;
}
FN(GradFn) {
  GUARD("gradFn") {
    const at::Tensor& t = toTensor(info[0], "tensor");
    auto fn = t.grad_fn();
    if (!fn) return info.Env().Null();
    return Napi::String::New(info.Env(), fn->name());
  } END_GUARD;
}
FN(IsContiguous) {
  GUARD("isContiguous") {
    const at::Tensor& t = toTensor(info[0], "tensor");
    at::MemoryFormat mf = isNone(info[1]) ? at::MemoryFormat::Contiguous : toMemoryFormat(info[1], "memoryFormat");
    return Napi::Boolean::New(info.Env(), t.is_contiguous(mf));
  } END_GUARD;
}
FN(SameStorage) {
  GUARD("sameStorage") {
    const at::Tensor& a = toTensor(info[0], "a");
    const at::Tensor& b = toTensor(info[1], "b");
    return Napi::Boolean::New(info.Env(), a.has_storage() && b.has_storage() && a.storage().is_alias_of(b.storage()));
  } END_GUARD;
}

FN(Grad) {
  GUARD("grad") { return fromTensor(info.Env(), toTensor(info[0], "tensor").grad()); } END_GUARD;
}
FN(SetGrad) {
  GUARD("setGrad") {
    at::Tensor t = toTensor(info[0], "tensor");
    if (isNone(info[1])) {
      t.mutable_grad() = at::Tensor();
    } else {
      at::Tensor g = toTensor(info[1], "grad");
      // PyTorch refuses a mismatched grad at assignment; otherwise the failure surfaces later in
      // backward() or an optimizer with a confusing message.
      if (!g.sizes().equals(t.sizes()) || g.scalar_type() != t.scalar_type() || g.device() != t.device())
        throw Napi::TypeError::New(info.Env(), "setting .grad: gradient " + shapeString(g) + " " + dtypeName(g.scalar_type()) +
                                                   " does not match tensor " + shapeString(t) + " " + dtypeName(t.scalar_type()));
      t.mutable_grad() = g;
    }
    return info.Env().Undefined();
  } END_GUARD;
}

// backward(t, gradient?, retainGraph?, createGraph?)
FN(Backward) {
  GUARD("backward") {
    at::Tensor t = toTensor(info[0], "tensor");
    c10::optional<at::Tensor> g = toTensorOpt(info[1], "gradient");
    c10::optional<bool> retain = isNone(info[2]) ? c10::nullopt : c10::optional<bool>(toBool(info[2], "retainGraph"));
    bool create = isNone(info[3]) ? false : toBool(info[3], "createGraph");
    t.backward(g.value_or(at::Tensor()), retain, create);
    return info.Env().Undefined();
  } END_GUARD;
}

// autogradGrad(outputs[], inputs[], gradOutputs[]|null, retainGraph?, createGraph?, allowUnused?)
FN(AutogradGrad) {
  GUARD("autograd.grad") {
    auto outputs = toTensorVec(info[0], "outputs");
    auto inputs = toTensorVec(info[1], "inputs");
    std::vector<at::Tensor> gradOutputs;
    if (!isNone(info[2])) gradOutputs = toTensorVec(info[2], "gradOutputs");
    c10::optional<bool> retain = isNone(info[3]) ? c10::nullopt : c10::optional<bool>(toBool(info[3], "retainGraph"));
    bool create = isNone(info[4]) ? false : toBool(info[4], "createGraph");
    bool allowUnused = isNone(info[5]) ? false : toBool(info[5], "allowUnused");
    auto grads = torch::autograd::grad(outputs, inputs, gradOutputs, retain, create, allowUnused);
    return fromTensorVec(info.Env(), grads);
  } END_GUARD;
}

FN(SetGradEnabled) {
  bool prev = c10::GradMode::is_enabled();
  c10::GradMode::set_enabled(toBool(info[0], "enabled"));
  return Napi::Boolean::New(info.Env(), prev);
}
FN(IsGradEnabled) { return Napi::Boolean::New(info.Env(), c10::GradMode::is_enabled()); }

FN(SetNumThreads) {
  int64_t n = toInt(info[0], "threads");
  // Checked here: the int cast wrapped huge counts to <= 0 and at::set_num_threads' TORCH_CHECK then
  // threw a c10::Error outside any guard, which aborted the process.
  if (n < 1 || n > 65536) throw Napi::RangeError::New(info.Env(), "setNumThreads: need 1 to 65536 threads, got " + std::to_string(n));
  at::set_num_threads(static_cast<int>(n));
  // at::set_num_threads sizes OpenMP (and MKL), not OpenBLAS's own pthread pool, which Debian's
  // libtorch uses for every matmul: without this, TESSERA_THREADS=1 still ran matmuls on every
  // core, and the summation order of a prior's probabilities depended on the machine's core count
  // (the codec needs them bit-identical on both ends).
  using SetBlasThreads = void (*)(int);
  static auto setBlas = reinterpret_cast<SetBlasThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (setBlas) setBlas(static_cast<int>(n));
  return info.Env().Undefined();
}
FN(GetNumThreads) { return Napi::Number::New(info.Env(), at::get_num_threads()); }
// OpenBLAS's thread count, or null when the BLAS in use is not OpenBLAS.
FN(GetBlasThreads) {
  using GetThreads = int (*)();
  static auto getBlas = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  if (!getBlas) return info.Env().Null();
  return Napi::Number::New(info.Env(), getBlas());
}

FN(ManualSeed) {
  GUARD("manualSeed") {
    at::manual_seed(static_cast<uint64_t>(toInt(info[0], "seed")));
    return info.Env().Undefined();
  } END_GUARD;
}
FN(GetRngState) {
  GUARD("getRngState") {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    return fromTensor(info.Env(), gen.get_state());
  } END_GUARD;
}
FN(SetRngState) {
  GUARD("setRngState") {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(toTensor(info[0], "state"));
    return info.Env().Undefined();
  } END_GUARD;
}

// Index specs from JS: number (integer index), null (new axis), "..." (ellipsis), boolean,
// [start|null, stop|null, step|null] (slice), or a tensor (advanced indexing).
static std::vector<at::indexing::TensorIndex> toIndices(const Napi::Value& v) {
  using namespace at::indexing;
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), "index: expected an array of index items");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<TensorIndex> out;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value it = a.Get(i);
    if (it.IsNull() || it.IsUndefined()) {
      out.emplace_back(None);
    } else if (it.IsString()) {
      if (it.As<Napi::String>().Utf8Value() != "...")
        throw Napi::TypeError::New(v.Env(), "index: the only string index item is '...'");
      out.emplace_back(Ellipsis);
    } else if (it.IsBoolean()) {
      out.emplace_back(it.As<Napi::Boolean>().Value());
    } else if (it.IsNumber()) {
      out.emplace_back(toInt(it, "index"));
    } else if (it.IsArray()) {
      Napi::Array s = it.As<Napi::Array>();
      auto part = [&](uint32_t k) -> c10::optional<int64_t> {
        if (k >= s.Length() || isNone(s.Get(k))) return c10::nullopt;
        return toInt(s.Get(k), "slice");
      };
      out.emplace_back(Slice(part(0), part(1), part(2)));
    } else if (TensorWrap::IsTensor(it)) {
      out.emplace_back(toTensor(it, "index"));
    } else {
      throw Napi::TypeError::New(v.Env(), "index: unsupported index item");
    }
  }
  return out;
}

FN(Index) {
  GUARD("index") {
    at::Tensor t = toTensor(info[0], "tensor");
    return fromTensor(info.Env(), t.index(toIndices(info[1])));
  } END_GUARD;
}

// indexPut(t, indices, value): in place, value is a tensor or a number.
FN(IndexPut) {
  GUARD("indexPut") {
    at::Tensor t = toTensor(info[0], "tensor");
    auto idx = toIndices(info[1]);
    if (TensorWrap::IsTensor(info[2]))
      t.index_put_(idx, toTensor(info[2], "value"));
    else
      t.index_put_(idx, toScalar(info[2], "value"));
    return info.Env().Undefined();
  } END_GUARD;
}

// to(t, dtype?, device?, memoryFormat?, copy?)
FN(To) {
  GUARD("to") {
    at::Tensor t = toTensor(info[0], "tensor");
    at::ScalarType dt = isNone(info[1]) ? t.scalar_type() : toDtype(info[1], "dtype");
    at::Device dev = isNone(info[2]) ? t.device() : toDevice(info[2], "device");
    c10::optional<at::MemoryFormat> mf =
        isNone(info[3]) ? c10::nullopt : c10::optional<at::MemoryFormat>(toMemoryFormat(info[3], "memoryFormat"));
    bool copy = isNone(info[4]) ? false : toBool(info[4], "copy");
    at::Tensor r = t.to(dev, dt, /*non_blocking=*/false, copy, mf);
    return fromTensor(info.Env(), r);
  } END_GUARD;
}

FN(Item) {
  GUARD("item") { return fromScalar(info.Env(), toTensor(info[0], "tensor").item()); } END_GUARD;
}

FN(EmptyCache) { return Napi::Number::New(info.Env(), static_cast<double>(EmptyAllocatorCache())); }

FN(StatsFn) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("cachedBytes", Napi::Number::New(info.Env(), static_cast<double>(AllocatorCachedBytes())));
  o.Set("liveTensors", Napi::Number::New(info.Env(), static_cast<double>(stats().liveTensors.load())));
  o.Set("liveBytes", Napi::Number::New(info.Env(), static_cast<double>(stats().liveBytes.load())));
  return o;
}

FN(BuildInfo) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("torchVersion", TORCH_VERSION);
  o.Set("cudaAvailable", Napi::Boolean::New(info.Env(), torch::cuda::is_available()));
  o.Set("cudaDeviceCount", Napi::Number::New(info.Env(), static_cast<double>(torch::cuda::device_count())));
  o.Set("mkldnn", Napi::Boolean::New(info.Env(), at::hasMKLDNN()));
  o.Set("parallelInfo", at::get_parallel_info());
  return o;
}

struct Entry {
  const char* name;
  Napi::Value (*fn)(const Napi::CallbackInfo&);
};

static Napi::Value Trampoline(const Napi::CallbackInfo& info) {
  const Entry* e = static_cast<const Entry*>(info.Data());
  return guard(info, e->name, [&]() { return e->fn(info); });
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InstallCachingAllocator();
  TensorWrap::Init(env, exports);
  GeneratorWrap::Init(env, exports);
  Entry fns[] = {
      {"fromBuffer", FromBuffer},   {"toBuffer", ToBuffer},
      {"shape", Shape},             {"strides", Strides},           {"dtype", Dtype},
      {"device", DeviceOf},         {"requiresGrad", RequiresGrad}, {"setRequiresGrad", SetRequiresGrad},
      {"isLeaf", IsLeaf},           {"gradFn", GradFn},             {"isContiguous", IsContiguous},
      {"sameStorage", SameStorage}, {"grad", Grad},                 {"setGrad", SetGrad},
      {"backward", Backward},       {"autogradGrad", AutogradGrad}, {"setGradEnabled", SetGradEnabled},
      {"isGradEnabled", IsGradEnabled}, {"setNumThreads", SetNumThreads}, {"getNumThreads", GetNumThreads}, {"getBlasThreads", GetBlasThreads},
      {"manualSeed", ManualSeed},   {"getRngState", GetRngState},   {"setRngState", SetRngState},
      {"index", Index},             {"indexPut", IndexPut},         {"to", To},
      {"item", Item},               {"stats", StatsFn},             {"buildInfo", BuildInfo},
      {"emptyCache", EmptyCache},
  };
  // Every hand-written function runs inside guard(), so no C++ exception can escape to N-API
  // (an escaped exception aborts the process). The table entry is the callback's data pointer.
  static std::vector<Entry> table(std::begin(fns), std::end(fns));
  for (const auto& f : table)
    exports.Set(f.name, Napi::Function::New(env, Trampoline, f.name, const_cast<Entry*>(&f)));
  RegisterGeneratedOps(env, exports);
  return exports;
}

}  // namespace tessera

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return tessera::Init(env, exports); }
NODE_API_MODULE(tessera_native, InitAddon)
