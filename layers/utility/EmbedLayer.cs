using System.Numerics.Tensors;
using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// A lookup table (embed_param: num_output, input_dim, bias_term true, weight_filler,
/// bias_filler): each bottom value is an integer index into the input_dim × num_output weight
/// rows; the top has the bottom's shape followed by num_output. Backward adds the top gradient
/// rows to the rows that were looked up (and to the bias); the indices get no gradient.
/// </summary>
[LayerType("Embed")]
public sealed class EmbedLayer : Layer
{
    private int _numOutput, _inputDim, _m;
    private bool _biasTerm;

    public EmbedLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => 1;
    public override int ExactTops => 1;

    public override bool CanBackward(int bottomIndex) => false;

    public override bool AllowForceBackward(int bottomIndex) => false;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.EmbedParam ?? throw Error("embed_param with num_output and input_dim is required");
        if (!p.HasNumOutput || p.NumOutput == 0) throw Error("embed_param.num_output is required and must be positive");
        if (!p.HasInputDim || p.InputDim == 0) throw Error("embed_param.input_dim is required and must be positive");
        _numOutput = checked((int)p.NumOutput);
        _inputDim = checked((int)p.InputDim);
        _biasTerm = p.BiasTerm;
        SetUpWeights([_inputDim, _numOutput], p.WeightFiller, _biasTerm ? _numOutput : 0, p.BiasFiller);
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var b = bottom[0];
        if (ReferenceEquals(top[0], b)) throw Error($"top \"{top[0].Name}\" is the bottom itself; Embed does not work in place");
        var shape = b.Shape.Append(_numOutput).ToArray();
        top[0].Reshape(shape);
        _m = (int)b.Count;
    }

    private int Index(ReadOnlySpan<float> x, int i, string bottomName)
    {
        float v = x[i];
        if (!(v >= 0 && v < _inputDim) || v != MathF.Floor(v))
            throw Error($"index {v} at position {i} of bottom \"{bottomName}\" is not an integer in [0, {_inputDim}) (embed_param.input_dim)");
        return (int)v;
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        ReadOnlySpan<float> x = bottom[0].Data;
        ReadOnlySpan<float> w = Blobs[0].Data;
        Span<float> y = top[0].Data;
        for (int i = 0; i < _m; i++)
        {
            int index = Index(x, i, bottom[0].Name);
            var row = y.Slice(i * _numOutput, _numOutput);
            if (_biasTerm) TensorPrimitives.Add(w.Slice(index * _numOutput, _numOutput), Blobs[1].Data, row);
            else w.Slice(index * _numOutput, _numOutput).CopyTo(row);
        }
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (propagateDown.Count > 0 && propagateDown[0]) throw Error($"cannot back-propagate to the indices \"{bottom[0].Name}\"");
        ReadOnlySpan<float> dy = top[0].Diff;
        if (ParamPropagateDown.Length > 0 && ParamPropagateDown[0])
        {
            ReadOnlySpan<float> x = bottom[0].Data;
            Span<float> dw = Blobs[0].Diff;
            for (int i = 0; i < _m; i++)
            {
                var row = dw.Slice(Index(x, i, bottom[0].Name) * _numOutput, _numOutput);
                TensorPrimitives.Add(row, dy.Slice(i * _numOutput, _numOutput), row);
            }
        }
        if (_biasTerm && ParamPropagateDown.Length > 1 && ParamPropagateDown[1])
        {
            Span<float> db = Blobs[1].Diff;
            for (int i = 0; i < _m; i++) TensorPrimitives.Add(db, dy.Slice(i * _numOutput, _numOutput), db);
        }
    }

    // Forward gathers the weight rows the indices name (GatherRows) and adds the bias with a
    // rank-1 product (a ones column times the bias row); backward adds the top rows to the weight
    // rows they came from (ScatterAddRows, accumulating) and sums them into the bias (ones·dy).
    // The indices are read on the device and not checked there: one that is not an integer in
    // [0, input_dim) gives a NaN row forward and adds nothing backward, where the host throws.
    private readonly DeviceBuffer _deviceOnes = new();

    public override bool RunsOnDevice => true;

    private BufferView Ones(IBackend backend)
    {
        var ones = _deviceOnes.On(backend, _m, out bool fresh);
        // Filled when allocated; a larger _m later allocates (and fills) again.
        if (fresh) backend.Fill(ones, 1f);
        return ones;
    }

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        // Indices the host still holds (a data layer's batch) are checked there, as the host code does.
        if (bottom[0].DataMemory.HostIfCurrent is { } host)
            for (int i = 0; i < _m; i++) Index(host, i, bottom[0].Name);
        var y = top[0].MutableDataOn(backend);
        backend.GatherRows(_inputDim, _numOutput, Blobs[0].DataOn(backend), bottom[0].DataOn(backend), y);
        if (_biasTerm && _m > 0)
            backend.Gemm(false, false, _m, _numOutput, 1, 1f, Ones(backend), 1, Blobs[1].DataOn(backend), _numOutput, 1f, y, _numOutput);
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (propagateDown.Count > 0 && propagateDown[0]) throw Error($"cannot back-propagate to the indices \"{bottom[0].Name}\"");
        var dy = top[0].DiffOn(backend);
        if (ParamPropagateDown.Length > 0 && ParamPropagateDown[0])
            backend.ScatterAddRows(_inputDim, _numOutput, bottom[0].DataOn(backend), dy, Blobs[0].MutableDiffOn(backend), accumulate: true);
        if (_biasTerm && ParamPropagateDown.Length > 1 && ParamPropagateDown[1] && _m > 0)
            backend.Gemm(true, false, _numOutput, 1, _m, 1f, dy, _numOutput, Ones(backend), 1, 1f, Blobs[1].MutableDiffOn(backend), 1);
    }
}
