using System.Numerics.Tensors;
using Engine.Core;
using Engine.Cpu;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Simple recurrent net over a time-major sequence (Caffe's "RNN"). H = num_output. For each step:
/// h_t = tanh(W_hh·(cont_t·h_{t−1}) + W_xh·x_t + b_h [+ W_xh_static·x_static]),
/// o_t = tanh(W_ho·h_t + b_o). Top: o for all steps, T×N×H (then h_T with expose_hidden).
/// Parameters in Caffe's order: W_xh (H×I), b_h (H), [W_xh_static (H×I_static)], W_hh (H×H),
/// W_ho (H×H), b_o (H). See <see cref="RecurrentLayer"/> for the bottoms and the carried state.
/// </summary>
[LayerType("RNN")]
public sealed class RNNLayer : RecurrentLayer
{
    private float[] _h = [], _hc = [], _dz = [], _do = [], _ones = [];
    private float[] _static = [], _sumD = [], _dh = [], _dhc = [], _h0 = [], _hLast = [];

    public RNNLayer(LayerParameter param) : base(param) { }

    protected override int NumStates => 1;

    private int S => StaticInput ? 1 : 0;
    private int WhhIndex => 2 + S;
    private int WhoIndex => 3 + S;
    private int BoIndex => 4 + S;

    protected override IReadOnlyList<(int[] Shape, bool IsBias)> ParamShapes()
    {
        var list = new List<(int[], bool)> { ([H, I], false), ([H], true) };
        if (StaticInput) list.Add(([H, IStatic], false));
        list.Add(([H, H], false));
        list.Add(([H, H], false));
        list.Add(([H], true));
        return list;
    }

    protected override void ReshapeBuffers()
    {
        long tn = (long)T * N, nh = (long)N * H;
        Ensure(ref _h, tn * H);
        Ensure(ref _hc, tn * H);
        Ensure(ref _dz, tn * H);
        Ensure(ref _do, tn * H);
        if (_ones.Length < tn)
        {
            _ones = new float[tn];
            _ones.AsSpan().Fill(1f);
        }
        Ensure(ref _static, nh);
        Ensure(ref _sumD, nh);
        Ensure(ref _dh, nh);
        Ensure(ref _dhc, nh);
        Ensure(ref _h0, nh);
        Ensure(ref _hLast, nh);
    }

    protected override void ResetState() => _hLast.AsSpan().Clear();

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        int tn = T * N, nh = N * H;
        if (tn == 0) return;
        var hAll = _h.AsSpan(0, tn * H);
        ReadOnlySpan<float> cont = bottom[1].Data;
        var ones = _ones.AsSpan(0, tn);
        Blas.Sgemm(false, true, tn, H, I, 1f, bottom[0].Data, Blobs[0].Data, 0f, hAll);
        Blas.Sgemm(false, false, tn, H, 1, 1f, ones, Blobs[1].Data, 1f, hAll);
        if (StaticInput)
        {
            var s = _static.AsSpan(0, nh);
            Blas.Sgemm(false, true, N, H, IStatic, 1f, bottom[2].Data, Blobs[2].Data, 0f, s);
            AddToRows(hAll, s, T);
        }

        ReadOnlySpan<float> h0;
        if (ExposeHidden) h0 = bottom[StateBottom].Data;
        else
        {
            _hLast.AsSpan(0, nh).CopyTo(_h0);
            h0 = _h0.AsSpan(0, nh);
        }

        var whh = Blobs[WhhIndex].Data;
        for (int t = 0; t < T; t++)
        {
            var hc = _hc.AsSpan(t * nh, nh);
            ScaleRows(cont.Slice(t * N, N), t == 0 ? h0 : hAll.Slice((t - 1) * nh, nh), hc, N, H);
            var z = hAll.Slice(t * nh, nh);
            Blas.Sgemm(false, true, N, H, H, 1f, hc, whh, 1f, z);
            TensorPrimitives.Tanh(z, z);
        }

        var o = top[0].Data;
        Blas.Sgemm(false, true, tn, H, H, 1f, hAll, Blobs[WhoIndex].Data, 0f, o);
        Blas.Sgemm(false, false, tn, H, 1, 1f, ones, Blobs[BoIndex].Data, 1f, o);
        TensorPrimitives.Tanh(o, o);

        var hT = hAll.Slice((T - 1) * nh, nh);
        hT.CopyTo(ExposeHidden ? top[1].Data : _hLast);
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (propagateDown[1]) throw Error($"cannot back-propagate to the sequence indicators \"{bottom[1].Name}\"");
        int tn = T * N, nh = N * H;
        if (tn == 0) return;
        ReadOnlySpan<float> cont = bottom[1].Data;
        ReadOnlySpan<float> hAll = _h.AsSpan(0, tn * H);
        var ones = _ones.AsSpan(0, tn);

        // Output layer: dO = dTop·(1 − o²).
        var dO = _do.AsSpan(0, tn * H);
        ReadOnlySpan<float> o = top[0].Data, dTop = top[0].Diff;
        for (int i = 0; i < dO.Length; i++) dO[i] = dTop[i] * (1f - o[i] * o[i]);
        if (ParamPropagateDown[WhoIndex]) Blas.Sgemm(true, false, H, H, tn, 1f, dO, hAll, 1f, Blobs[WhoIndex].Diff);
        if (ParamPropagateDown[BoIndex]) Blas.Sgemv(true, tn, H, 1f, dO, ones, 1f, Blobs[BoIndex].Diff);

        // Gradient for every h_t from the outputs, then back through time (dz overwrites it step by step).
        var dz = _dz.AsSpan(0, tn * H);
        Blas.Sgemm(false, false, tn, H, H, 1f, dO, Blobs[WhoIndex].Data, 0f, dz);
        var dh = _dh.AsSpan(0, nh);
        var dhc = _dhc.AsSpan(0, nh);
        if (ExposeHidden) top[1].Diff.CopyTo(dh);
        else dh.Clear();
        var whh = Blobs[WhhIndex].Data;
        for (int t = T - 1; t >= 0; t--)
        {
            var dzT = dz.Slice(t * nh, nh);
            var hT = hAll.Slice(t * nh, nh);
            for (int i = 0; i < nh; i++) dzT[i] = (dzT[i] + dh[i]) * (1f - hT[i] * hT[i]);
            Blas.Sgemm(false, false, N, H, H, 1f, dzT, whh, 0f, dhc);
            ScaleRows(cont.Slice(t * N, N), dhc, dh, N, H);
        }
        if (ExposeHidden && propagateDown[StateBottom]) dh.CopyTo(bottom[StateBottom].Diff);

        ReadOnlySpan<float> x = bottom[0].Data;
        if (ParamPropagateDown[0]) Blas.Sgemm(true, false, H, I, tn, 1f, dz, x, 1f, Blobs[0].Diff);
        if (ParamPropagateDown[1]) Blas.Sgemv(true, tn, H, 1f, dz, ones, 1f, Blobs[1].Diff);
        if (ParamPropagateDown[WhhIndex]) Blas.Sgemm(true, false, H, H, tn, 1f, dz, _hc.AsSpan(0, tn * H), 1f, Blobs[WhhIndex].Diff);
        if (StaticInput && (ParamPropagateDown[2] || propagateDown[2]))
        {
            var sum = _sumD.AsSpan(0, nh);
            SumBlocks(dz, sum, T);
            if (ParamPropagateDown[2]) Blas.Sgemm(true, false, H, IStatic, N, 1f, sum, bottom[2].Data, 1f, Blobs[2].Diff);
            if (propagateDown[2]) Blas.Sgemm(false, false, N, IStatic, H, 1f, sum, Blobs[2].Data, 0f, bottom[2].Diff);
        }
        if (propagateDown[0]) Blas.Sgemm(false, false, tn, I, H, 1f, dz, Blobs[0].Data, 0f, bottom[0].Diff);
    }
}
