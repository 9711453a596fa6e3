// Errors a training run ends with, beyond the ones that name a file or an option.

/** Thrown when a step's loss or the weights become NaN or infinite; the last checkpoint is left as it was. */
export class NonFiniteLossError extends Error {
  override readonly name = 'NonFiniteLossError';
}
