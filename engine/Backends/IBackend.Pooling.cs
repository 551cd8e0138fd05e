namespace Engine.Backends;

/// <summary>The pooling group's primitives: pooling backward, LRN, nearest upsampling and unpooling.</summary>
public partial interface IBackend
{
    /// <summary>
    /// The bottom gradient of 2-D pooling over <paramref name="planes"/> planes (overwritten).
    /// Max: each top gradient goes to the cell its <paramref name="mask"/> names (the flat index
    /// h·W + w that <see cref="PoolForward"/> wrote; −1 sends nothing). Average: each top gradient
    /// is spread over its window's cells inside the image, divided by Caffe's divisor (the window
    /// clipped to the padded image). A cell sums its contributions in top order (row-major), as
    /// the host layer does.
    /// </summary>
    void PoolBackward(PoolKind kind, in PoolWindow window, int planes, BufferView topDiff, BufferView? mask, BufferView bottomDiff);

    /// <summary>
    /// Caffe's LRN forward over an N×C×H×W array: <paramref name="scale"/> = k + α/n·Σx² over the n
    /// channels centred on each channel (across), or 1 + α/n²·Σx² over the n×n window centred on
    /// each pixel (within, zero padded); y = x·scale^−β. y must not be x.
    /// </summary>
    void LrnForward(in LrnShape shape, BufferView x, BufferView scale, BufferView y);

    /// <summary>
    /// LRN backward from the forward's x, y and scale: dx = dy·scale^−β − (2αβ/n')·x·Σ_window(dy·y/scale),
    /// n' = n across channels, n² within a channel. dx must not alias an input.
    /// </summary>
    void LrnBackward(in LrnShape shape, BufferView x, BufferView y, BufferView scale, BufferView dy, BufferView dx);

    /// <summary>Nearest-neighbour upsampling of <paramref name="planes"/> H×W planes by an integer factor:
    /// each value fills its factor×factor block of the (H·factor)×(W·factor) top.</summary>
    void UpsampleForward(int planes, int height, int width, int factor, BufferView x, BufferView y);

    /// <summary>The adjoint of <see cref="UpsampleForward"/>: dx = the sum of each block of dy, in
    /// row-major order (overwritten).</summary>
    void UpsampleBackward(int planes, int height, int width, int factor, BufferView dy, BufferView dx);

    /// <summary>
    /// Unpooling: y (planes of <paramref name="outPlane"/>) is zero except at each input's mask
    /// position (a flat index into its plane, as a float), which receives the input's value; when
    /// several inputs of a plane name one position the last one (highest index) wins, as in a
    /// sequential loop. Mask values that are not positions of the plane are skipped.
    /// <paramref name="winner"/> is scratch of y's count.
    /// </summary>
    void UnpoolForward(int planes, int inPlane, int outPlane, BufferView x, BufferView mask, BufferView y, BufferView winner);

    /// <summary>The gradient of <see cref="UnpoolForward"/>: dx = dy at each input's mask position
    /// (0 for a mask value that is not a position).</summary>
    void UnpoolBackward(int planes, int inPlane, int outPlane, BufferView dy, BufferView mask, BufferView dx);
}

/// <summary>An LRN over N×C×H×W: local_size n (odd), α, β, k, and the region.</summary>
public readonly record struct LrnShape(int Num, int Channels, int Height, int Width, int Size, float Alpha, float Beta, float K,
    bool WithinChannel)
{
    public long Count => (long)Num * Channels * Height * Width;
}
