// The public API of ssd-ts. Each area exports its own names; this file gathers them.
