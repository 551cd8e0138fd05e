using Engine.OpenCL;

namespace Engine.Backends;

/// <summary>The neuron layers' primitives on OpenCL: the kernels of engine/OpenCL/kernels/neuron.cl.</summary>
public sealed partial class OpenCLBackend
{
    public void AbsForward(BufferView x, BufferView y) =>
        NeuronMap("abs_forward", Same(x, y), Buf(x), x.Offset, Buf(y), y.Offset);

    public void AbsBackward(BufferView x, BufferView dy, BufferView dx) =>
        NeuronMap("abs_backward", Same(x, dy, dx), Buf(x), x.Offset, Buf(dy), dy.Offset, Buf(dx), dx.Offset);

    public void BnllForward(BufferView x, BufferView y) =>
        NeuronMap("bnll_forward", Same(x, y), Buf(x), x.Offset, Buf(y), y.Offset);

    public void BnllBackward(BufferView y, BufferView dy, BufferView dx) =>
        NeuronMap("bnll_backward", Same(y, dy, dx), Buf(y), y.Offset, Buf(dy), dy.Offset, Buf(dx), dx.Offset);

    public void ClipForward(BufferView x, BufferView y, float min, float max, BufferView? mask = null)
    {
        int n = Same(x, y);
        var m = mask ?? y; // not written without a mask
        SameCount(n, m.Count, nameof(ClipForward));
        NeuronMap("clip_forward", n, min, max, Buf(x), x.Offset, Buf(y), y.Offset, mask.HasValue ? 1 : 0, Buf(m), m.Offset);
    }

    public void ClipBackward(BufferView x, BufferView dy, BufferView dx, float min, float max) =>
        NeuronMap("clip_backward", Same(x, dy, dx), min, max, Buf(x), x.Offset, Buf(dy), dy.Offset, Buf(dx), dx.Offset);

    public void EluForward(BufferView x, BufferView y, float alpha) =>
        NeuronMap("elu_forward", Same(x, y), alpha, Buf(x), x.Offset, Buf(y), y.Offset);

    public void EluBackward(BufferView x, BufferView y, BufferView dy, BufferView dx, float alpha)
    {
        int n = Same(x, y, dy);
        SameCount(n, dx.Count, nameof(EluBackward));
        NeuronMap("elu_backward", n, alpha, Buf(x), x.Offset, Buf(y), y.Offset, Buf(dy), dy.Offset, Buf(dx), dx.Offset);
    }

    public void ExpForward(BufferView x, BufferView y, float innerScale, float outerScale) =>
        NeuronMap("exp_forward", Same(x, y), innerScale, outerScale, Buf(x), x.Offset, Buf(y), y.Offset);

    public void ExpBackward(BufferView y, BufferView dy, BufferView dx, float innerScale) =>
        NeuronMap("exp_backward", Same(y, dy, dx), innerScale, Buf(y), y.Offset, Buf(dy), dy.Offset, Buf(dx), dx.Offset);

    public void LogForward(BufferView x, BufferView y, float scale, float shift, float baseScale, BufferView? arg = null)
    {
        int n = Same(x, y);
        var u = arg ?? y; // not written without arg
        SameCount(n, u.Count, nameof(LogForward));
        NeuronMap("log_forward", n, scale, shift, baseScale, Buf(x), x.Offset, Buf(y), y.Offset, arg.HasValue ? 1 : 0, Buf(u), u.Offset);
    }

    public void LogBackward(BufferView x, BufferView dy, BufferView dx, float scale, float shift, float k) =>
        NeuronMap("log_backward", Same(x, dy, dx), scale, shift, k, Buf(x), x.Offset, Buf(dy), dy.Offset, Buf(dx), dx.Offset);

    public void PowerForward(BufferView x, BufferView y, float power, float scale, float shift, BufferView? arg = null)
    {
        int n = Same(x, y);
        var u = arg ?? y; // not written without arg
        SameCount(n, u.Count, nameof(PowerForward));
        // Power 0 is 1 everywhere (even where the base is not finite), as on the host; the base is not kept.
        if (power == 0f) { Fill(y, 1f); return; }
        NeuronMap("power_forward", n, power, scale, shift, Buf(x), x.Offset, Buf(y), y.Offset, arg.HasValue ? 1 : 0, Buf(u), u.Offset);
    }

    public void PowerBackward(BufferView x, BufferView dy, BufferView dx, float power, float scale, float baseScale, float baseShift)
    {
        int n = Same(x, dy, dx);
        // The host's special cases: a zero derivative, and power 1 (a constant derivative), which do not read the base.
        float k = power * scale;
        if (k == 0f) Fill(dx, 0f);
        else if (power == 1f) Scale(k, dy, dx);
        else NeuronMap("power_backward", n, power, baseScale, baseShift, k, Buf(x), x.Offset, Buf(dy), dy.Offset, Buf(dx), dx.Offset);
    }

    public void PReluForward(int outer, int channels, int dim, bool shared, BufferView x, BufferView a, BufferView y)
    {
        PReluShapes(outer, channels, dim, shared, x, a);
        NeuronMap("prelu_forward", Same(x, y), channels, dim, shared ? 1 : 0, Buf(x), x.Offset, Buf(a), a.Offset, Buf(y), y.Offset);
    }

    public void PReluBackward(int outer, int channels, int dim, bool shared, BufferView x, BufferView a, BufferView dy, BufferView dx)
    {
        PReluShapes(outer, channels, dim, shared, x, a);
        NeuronMap("prelu_backward", Same(x, dy, dx), channels, dim, shared ? 1 : 0, Buf(x), x.Offset, Buf(a), a.Offset,
            Buf(dy), dy.Offset, Buf(dx), dx.Offset);
    }

    /// <summary>Work-items per channel of the slope-gradient reduction: a power of two, at most
    /// the kernel's PRELU_MAX_GROUP (256) and the device's work-group limit.</summary>
    private int PReluReductionGroup
    {
        get
        {
            long limit = Math.Min(256, Context.Device.MaxWorkGroupSize);
            int size = 1;
            while (size * 2 <= limit) size *= 2;
            return size;
        }
    }

    public void PReluSlopeGradient(int outer, int channels, int dim, bool shared, BufferView x, BufferView dy, BufferView da)
    {
        PReluShapes(outer, channels, dim, shared, x, da);
        SameCount(x.Count, dy.Count, nameof(PReluSlopeGradient));
        if (x.Count == 0) return;
        // One work-group per slope, reducing in local memory (see the kernel).
        int group = PReluReductionGroup;
        long groups = shared ? 1 : channels;
        Program("neuron").Kernel("prelu_slope_gradient").Launch([groups * group], [group],
            outer, channels, dim, shared ? 1 : 0, Buf(x), x.Offset, Buf(dy), dy.Offset, Buf(da), da.Offset);
    }

    public void SwishForward(BufferView x, BufferView y, BufferView sigmoid, float beta) =>
        NeuronMap("swish_forward", Same(x, y, sigmoid), beta, Buf(x), x.Offset, Buf(y), y.Offset, Buf(sigmoid), sigmoid.Offset);

    public void SwishBackward(BufferView y, BufferView sigmoid, BufferView dy, BufferView dx, float beta)
    {
        int n = Same(y, sigmoid, dy);
        SameCount(n, dx.Count, nameof(SwishBackward));
        NeuronMap("swish_backward", n, beta, Buf(y), y.Offset, Buf(sigmoid), sigmoid.Offset, Buf(dy), dy.Offset, Buf(dx), dx.Offset);
    }

    public void ThresholdForward(BufferView x, BufferView y, float threshold) =>
        NeuronMap("threshold_forward", Same(x, y), threshold, Buf(x), x.Offset, Buf(y), y.Offset);

    private static void PReluShapes(int outer, int channels, int dim, bool shared, BufferView x, BufferView slopes)
    {
        SameCount((long)outer * channels * dim, x.Count, "PReLU input");
        SameCount(shared ? 1 : channels, slopes.Count, "PReLU slopes");
    }

    /// <summary>A kernel of neuron.cl over n elements, whose first argument is the count.</summary>
    private void NeuronMap(string kernel, int n, params ReadOnlySpan<KernelArg> rest)
        => Counted("neuron", kernel, n, rest);
}
