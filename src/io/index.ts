// The public names of src/io (`ssd-ts/io`): file formats only - safetensors, PyTorch's zip and pickle files,
// ONNX model files, float16, images (bounded decoding), atomic writes.
export { readSafetensors, writeSafetensors, encodeSafetensors } from './safetensors.js';
export type { SafetensorsFile, TensorToWrite, Tensor as SafetensorsTensor, ReadSafetensorsOptions } from './safetensors.js';
export { readOnnxModelFile } from './onnx-file.js';
export type { OnnxModelFile, OnnxValueInfo, ReadOnnxOptions } from './onnx-file.js';
export { writeFileAtomic } from './atomic-write.js';
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
export { decodeImage, decodeResized, resizePixels, orientPixels, readImageHeader, readImageSize, checkPixelLimit, megapixels, DEFAULT_MAX_PIXELS, ImageDecodeError, ImageTooLargeError } from './image.js';
export type { DecodedImage, ImageHeader, ImageReadOptions, RawPixels } from './image.js';
