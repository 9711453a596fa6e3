// The public names of src/io (`ssd-ts/io`): file formats only - safetensors, PyTorch's zip and pickle files,
// float16.
export { readSafetensors, writeSafetensors, encodeSafetensors } from './safetensors.js';
export type { SafetensorsFile, TensorToWrite, Tensor as SafetensorsTensor, ReadSafetensorsOptions } from './safetensors.js';
export { readModelFile, detectModelFileKind, describeModelFileKind, DEFAULT_MAX_MODEL_FILE_BYTES } from './file-kind.js';
export type { ModelFile, ModelFileKind, ModelFileOptions } from './file-kind.js';
export { findNonFinite, describeNonFinite, assertFiniteWeights, type NonFiniteValue } from './non-finite.js';
export { loadTorchFile } from './torch/load.js';
export type { LoadTorchOptions, TorchFile } from './torch/load.js';
export { ZipArchive, isZip, DEFAULT_MAX_INFLATED_BYTES, type ZipOptions } from './torch/zip.js';
export { TorchTensor } from './torch/tensor.js';
export { PyObject } from './torch/pickle.js';
export type { PyValue } from './torch/pickle.js';
export { halfToFloat, floatToHalf, decodeFloat16, decodeBFloat16 } from './float16.js';
