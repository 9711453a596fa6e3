// The public API of ssd-ts. Each area exports its own names; this file gathers them.

// Models: load, detect, save; build networks; the MultiBox loss.
export { SSD, CONFIG_KEY } from './nn/model.js';
export type { Detection, DetectOptions, ImageInput, ModelOptions, PreparedImage } from './nn/model.js';
export { ssd300Config, validateConfig, IMAGENET_NORMALIZATION, VOC_CLASSES } from './nn/config.js';
export type { Architecture, ModelConfig, Normalization } from './nn/config.js';
export { ssd300, networkFromConfig } from './nn/zoo.js';
export type { SSD300Options } from './nn/zoo.js';
export { SSDNetwork } from './nn/ssd.js';
export type { Backbone, FeatureMapInfo, ForwardGraph, LossGraph, SSDParts } from './nn/ssd.js';
export { SSDHead } from './nn/heads.js';
export type { HeadMap } from './nn/heads.js';
export { multiboxLoss } from './nn/loss.js';
export type { LocLossKind, MultiBoxLossOptions, MultiBoxLossTerms, MultiBoxTargets } from './nn/loss.js';
export { matchBatch } from './nn/targets.js';
export type { BatchTargets, ImageObjects } from './nn/targets.js';
export { BuildContext, Conv2d, initWeights } from './nn/layers.js';
export type { ParameterSpec, ParameterGroup, Weights } from './nn/layers.js';
export type { Init } from './nn/init.js';

// The model family beyond SSD300, model statistics, and the demo pipeline.
export { ZOO_MODELS, zooModelConfig, buildZooNetwork, ssd512, SSD512_PRIORS, ssdliteMobileNetV2, ssdTiny, calibrateBatchNorm } from './nn/models/index.js';
export type { ZooModelConfig, ZooModelOptions, SSD512Options, SSDLiteOptions, SsdTinyOptions } from './nn/models/index.js';
export { modelStats } from './nn/model-stats.js';
export type { ModelStats } from './nn/model-stats.js';
export { runDemo } from './demo/demo.js';
export type { DemoOptions, DemoResult } from './demo/demo.js';

// The graph engine: networks as ONNX graphs, autodiff, ONNX Runtime sessions, SGD.
export { Graph, gradients, buildTrainingGraph, InferenceRunner, TrainingSession } from './graph/index.js';
export type { DType, Dim, Tensor, Parameter, TensorData, SgdOptions, RuntimeOptions, TrainingOptions } from './graph/index.js';

// Box math: priors, IoU, the box coder, matching, NMS and detection post-processing.
export * from './boxes/index.js';

// Evaluation: VOC07 11-point, VOC all-point and COCO mAP.
export * from './eval/index.js';

// Datasets (VOC, COCO, YOLO), augmentation, the generated shapes dataset, and the parallel loader.
export * from './data/index.js';
export { DataLoader, sampleSeed, epochOrder } from './data/loader.js';
export type { DataLoaderOptions, Batch, LoaderSample } from './data/loader.js';

// Training and evaluating models.
export { train, NonFiniteLossError } from './train/trainer.js';
export type { TrainOptions, TrainResult } from './train/trainer.js';
export { evaluateModel, evaluateResults, readCocoResults, evaluationJson } from './train/evaluate.js';
export type { EvaluateModelOptions, ImageDetections, Predictor } from './train/evaluate.js';
export { stepDecaySchedule, referenceMilestones } from './train/schedule.js';
export type { LrSchedule, StepDecayOptions } from './train/schedule.js';
export { saveCheckpoint, loadCheckpoint } from './train/checkpoint.js';
export type { Checkpoint, TrainState } from './train/checkpoint.js';

// Files: safetensors, PyTorch .pth import, ONNX export.
export { readSafetensors, writeSafetensors, encodeSafetensors } from './io/safetensors.js';
export type { SafetensorsFile, TensorToWrite, Tensor as SafetensorsTensor } from './io/safetensors.js';
export { importTorchWeights, loadPretrainedBase, decimate, TORCHVISION_SSD300_PRIORS, TORCHVISION_COCO_CLASSES } from './io/import.js';
export type { ImportResult, ImportSource, ImportOptions } from './io/import.js';
export { loadTorchFile } from './io/torch/load.js';
export { exportOnnx, exportOnnxFile } from './io/onnx-export.js';
export type { ExportOptions, ExportableModel } from './io/onnx-export.js';

// Using models: annotated images and the HTTP service.
export { annotateImage, classColor } from './draw/index.js';
export type { AnnotateOptions, DrawableDetection } from './draw/index.js';
export { serve, DetectionServer, MicroBatcher } from './serve/index.js';
export type { ServeOptions, DetectResponse, Detector } from './serve/index.js';
