using Engine.OpenCL;

namespace Engine.Backends;

public sealed partial class OpenCLBackend
{
    private const int DotGroups = 64, DotGroup = 256;
    private OpenCLBuffer? _partials;
    private readonly float[] _partialsHost = new float[DotGroups];

    public double Dot(BufferView x, BufferView y)
    {
        int n = Same(x, y);
        if (n == 0) return 0;
        _partials ??= Context.Allocate(DotGroups);
        long local = DotGroup;
        while (local > Context.Device.MaxWorkGroupSize) local /= 2;
        int groups = (int)Math.Min(DotGroups, (n + local - 1) / local);
        Program("solver").Kernel("dot_partial").Launch([groups * local], [local], n, Buf(x), x.Offset, Buf(y), y.Offset, _partials);
        Context.Read(_partials, 0, _partialsHost.AsSpan(0, groups));
        double sum = 0;
        for (int i = 0; i < groups; i++) sum += _partialsHost[i];
        return sum;
    }

    public void L1Decay(float decay, BufferView data, BufferView diff) =>
        Update("l1_decay", Same(data, diff), decay, Buf(data), data.Offset, Buf(diff), diff.Offset);

    public void SgdUpdate(BufferView diff, BufferView history, float momentum, float rate) =>
        Update("sgd_update", Same(diff, history), Buf(diff), diff.Offset, Buf(history), history.Offset, momentum, rate);

    public void NesterovUpdate(BufferView diff, BufferView history, float momentum, float rate) =>
        Update("nesterov_update", Same(diff, history), Buf(diff), diff.Offset, Buf(history), history.Offset, momentum, rate);

    public void AdaGradUpdate(BufferView diff, BufferView history, float delta, float rate) =>
        Update("adagrad_update", Same(diff, history), Buf(diff), diff.Offset, Buf(history), history.Offset, delta, rate);

    public void RmsPropUpdate(BufferView diff, BufferView history, float decay, float delta, float rate) =>
        Update("rmsprop_update", Same(diff, history), Buf(diff), diff.Offset, Buf(history), history.Offset, decay, delta, rate);

    public void AdaDeltaUpdate(BufferView diff, BufferView gradients, BufferView updates, float momentum, float delta, float rate) =>
        Update("adadelta_update", Same(diff, gradients, updates), Buf(diff), diff.Offset, Buf(gradients), gradients.Offset,
            Buf(updates), updates.Offset, momentum, delta, rate);

    public void AdamUpdate(BufferView diff, BufferView m, BufferView v, float beta1, float beta2, float epsilon, float rate) =>
        Update("adam_update", Same(diff, m, v), Buf(diff), diff.Offset, Buf(m), m.Offset, Buf(v), v.Offset, beta1, beta2, epsilon, rate);

    /// <summary>A kernel of solver.cl whose first argument is the count.</summary>
    private void Update(string kernel, int n, params ReadOnlySpan<KernelArg> rest)
        => Counted("solver", kernel, n, rest);
}
