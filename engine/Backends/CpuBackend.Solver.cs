using System.Numerics.Tensors;
using Engine.Solvers;

namespace Engine.Backends;

public sealed partial class CpuBackend
{
    private float[] _temp = [], _temp2 = [];

    private Span<float> Temp(int n) => (_temp.Length < n ? _temp = new float[n] : _temp).AsSpan(0, n);
    private Span<float> Temp2(int n) => (_temp2.Length < n ? _temp2 = new float[n] : _temp2).AsSpan(0, n);

    public double Dot(BufferView x, BufferView y)
    {
        Same(x.Count, y.Count);
        return TensorPrimitives.Dot<float>(Span(x), Span(y));
    }

    public void L1Decay(float decay, BufferView data, BufferView diff)
    {
        Same(data.Count, diff.Count);
        UpdateRules.L1(Span(data), Span(diff), decay);
    }

    public void SgdUpdate(BufferView diff, BufferView history, float momentum, float rate)
    {
        Same(diff.Count, history.Count);
        UpdateRules.Sgd(Span(diff), Span(history), momentum, rate);
    }

    public void NesterovUpdate(BufferView diff, BufferView history, float momentum, float rate)
    {
        Same(diff.Count, history.Count);
        UpdateRules.Nesterov(Span(diff), Span(history), momentum, rate, Temp(diff.Count));
    }

    public void AdaGradUpdate(BufferView diff, BufferView history, float delta, float rate)
    {
        Same(diff.Count, history.Count);
        UpdateRules.AdaGrad(Span(diff), Span(history), delta, rate, Temp(diff.Count));
    }

    public void RmsPropUpdate(BufferView diff, BufferView history, float decay, float delta, float rate)
    {
        Same(diff.Count, history.Count);
        UpdateRules.RmsProp(Span(diff), Span(history), decay, delta, rate, Temp(diff.Count));
    }

    public void AdaDeltaUpdate(BufferView diff, BufferView gradients, BufferView updates, float momentum, float delta, float rate)
    {
        Same(diff.Count, gradients.Count);
        Same(diff.Count, updates.Count);
        UpdateRules.AdaDelta(Span(diff), Span(gradients), Span(updates), momentum, delta, rate, Temp(diff.Count), Temp2(diff.Count));
    }

    public void AdamUpdate(BufferView diff, BufferView m, BufferView v, float beta1, float beta2, float epsilon, float rate)
    {
        Same(diff.Count, m.Count);
        Same(diff.Count, v.Count);
        UpdateRules.Adam(Span(diff), Span(m), Span(v), beta1, beta2, epsilon, rate, Temp(diff.Count));
    }
}
