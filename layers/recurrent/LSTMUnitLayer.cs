using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// One LSTM step (Caffe's "LSTMUnit"). Bottoms: c_prev (1×N×H), the gate pre-activations
/// x (1×N×4H, gate order i, f, o, g) and cont (1×N). Tops: c and h (1×N×H each).
/// i, f, o = σ, g = tanh; c = cont·f·c_prev + i·g; h = o·tanh(c). No parameters; no gradient
/// for cont.
/// </summary>
[LayerType("LSTMUnit")]
public sealed class LSTMUnitLayer : Layer
{
    private int _n, _h;
    private float[] _gates = [], _dc = [], _dGates = [];
    // Device counterparts: the gate values from forward; the gradients nobody asked for.
    private readonly DeviceBuffer _dGatesValue = new(), _dUnusedGates = new(), _dUnusedC = new();

    public LSTMUnitLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => 3;
    public override int ExactTops => 2;

    public override bool AllowForceBackward(int bottomIndex) => bottomIndex != 2;
    public override bool CanBackward(int bottomIndex) => bottomIndex != 2;

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        Blob c = bottom[0], x = bottom[1], cont = bottom[2];
        if (c.NumAxes != 3 || c.Dim(0) != 1)
            throw Error($"bottom \"{c.Name}\" {c.ShapeString} (c_prev) must be 1×N×H");
        int n = c.Dim(1), h = c.Dim(2);
        if (x.NumAxes != 3 || x.Dim(0) != 1 || x.Dim(1) != n || x.Dim(2) != 4 * h)
            throw Error($"bottom \"{x.Name}\" {x.ShapeString} (gate inputs) must be 1×{n}×{4 * h} (1×N×4H, with c_prev {c.ShapeString})");
        if (cont.NumAxes != 2 || cont.Dim(0) != 1 || cont.Dim(1) != n)
            throw Error($"cont bottom \"{cont.Name}\" {cont.ShapeString} must be 1×{n} (1×N)");
        _n = n;
        _h = h;
        top[0].Reshape(1, n, h);
        top[1].Reshape(1, n, h);
        if (_gates.Length < x.Count) _gates = new float[x.Count];
        if (_dGates.Length < x.Count) _dGates = new float[x.Count];
        if (_dc.Length < c.Count) _dc = new float[c.Count];
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var gates = _gates.AsSpan(0, 4 * _n * _h);
        bottom[1].Data.CopyTo(gates);
        LstmCell.Forward(_n, _h, gates, bottom[0].Data, bottom[2].Data, top[0].Data, top[1].Data);
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (propagateDown[2]) throw Error($"cannot back-propagate to the sequence indicators \"{bottom[2].Name}\"");
        if (!propagateDown[0] && !propagateDown[1]) return;
        var dc = _dc.AsSpan(0, _n * _h);
        top[0].Diff.CopyTo(dc);
        var dGates = propagateDown[1] ? bottom[1].Diff : _dGates.AsSpan(0, 4 * _n * _h);
        LstmCell.Backward(_n, _h, _gates.AsSpan(0, 4 * _n * _h), bottom[0].Data, top[0].Data, bottom[2].Data,
            top[1].Diff, dc, dGates);
        if (propagateDown[0]) dc.CopyTo(bottom[0].Diff);
    }

    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var gates = _dGatesValue.On(backend, 4L * _n * _h);
        backend.Copy(bottom[1].DataOn(backend), gates);
        backend.LstmForward(_n, _h, gates, bottom[0].DataOn(backend), bottom[2].DataOn(backend),
            top[0].MutableDataOn(backend), top[1].MutableDataOn(backend));
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (propagateDown[2]) throw Error($"cannot back-propagate to the sequence indicators \"{bottom[2].Name}\"");
        if (!propagateDown[0] && !propagateDown[1]) return;
        long nh = (long)_n * _h;
        var dGates = propagateDown[1] ? bottom[1].MutableDiffOn(backend) : _dUnusedGates.On(backend, 4 * nh);
        var dcPrev = propagateDown[0] ? bottom[0].MutableDiffOn(backend) : _dUnusedC.On(backend, nh);
        backend.LstmBackward(_n, _h, _dGatesValue.On(backend, 4 * nh), bottom[0].DataOn(backend), top[0].DataOn(backend),
            bottom[2].DataOn(backend), top[1].DiffOn(backend), top[0].DiffOn(backend), dcPrev, dGates);
    }
}
