using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// The indices of the top_k largest values (argmax_param: top_k 1, out_max_val false, axis
/// optional). Without axis each item (axis 0) is searched over all its values and the top is
/// N×1×top_k (N×2×top_k with out_max_val: the indices, then the values), padded with trailing 1s
/// to the bottom's axis count. With axis the search runs along that axis and the top is the
/// bottom with that axis set to top_k, holding indices, or the values with out_max_val. Ties go to
/// the larger index, as Caffe's sort of (value, index) pairs. No gradient.
/// </summary>
[LayerType("ArgMax")]
public sealed class ArgMaxLayer : Layer
{
    private bool _outMaxVal, _hasAxis;
    private int _topK, _axis, _outer, _dim, _inner;
    private int[] _order = [];

    public ArgMaxLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => 1;
    public override int ExactTops => 1;

    public override bool CanBackward(int bottomIndex) => false;

    public override bool AllowForceBackward(int bottomIndex) => false;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.ArgmaxParam ?? new ArgMaxParameter();
        _outMaxVal = p.OutMaxVal;
        if (p.TopK < 1) throw Error("argmax_param.top_k must be at least 1");
        _topK = checked((int)p.TopK);
        _hasAxis = p.HasAxis;
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var b = bottom[0];
        if (ReferenceEquals(top[0], b)) throw Error($"top \"{top[0].Name}\" is the bottom itself; ArgMax does not work in place");
        int[] shape;
        if (_hasAxis)
        {
            int axis = Param.ArgmaxParam.Axis;
            if (axis < -b.NumAxes || axis >= b.NumAxes)
                throw Error($"argmax_param.axis {axis} is out of range for the {b.NumAxes}-D bottom \"{b.Name}\" {b.ShapeString}");
            _axis = axis < 0 ? axis + b.NumAxes : axis;
            _outer = (int)b.CountRange(0, _axis);
            _dim = b.Dim(_axis);
            _inner = (int)b.CountFrom(_axis + 1);
            shape = b.Shape.ToArray();
            shape[_axis] = _topK;
        }
        else
        {
            if (b.NumAxes < 1) throw Error($"bottom \"{b.Name}\" {b.ShapeString} needs an item axis");
            _outer = b.Dim(0);
            _dim = (int)b.CountFrom(1);
            _inner = 1;
            shape = Enumerable.Repeat(1, Math.Max(3, b.NumAxes)).ToArray();
            shape[0] = b.Dim(0);
            shape[1] = _outMaxVal ? 2 : 1;
            shape[2] = _topK;
        }
        if (_topK > _dim)
            throw Error($"argmax_param.top_k {_topK} exceeds the {_dim} values searched in bottom \"{b.Name}\" {b.ShapeString}");
        top[0].Reshape(shape);
        if (_order.Length < _dim) _order = new int[_dim];
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        ReadOnlySpan<float> x = bottom[0].Data;
        Span<float> y = top[0].Data;
        var order = _order.AsSpan(0, _dim);
        for (int n = 0; n < _outer; n++)
            for (int s = 0; s < _inner; s++)
            {
                int baseIndex = n * _dim * _inner + s;
                for (int i = 0; i < _dim; i++) order[i] = i;
                // Partial selection of the k largest: (value, index) descending.
                for (int k = 0; k < _topK; k++)
                {
                    int best = k;
                    float bestValue = x[baseIndex + order[k] * _inner];
                    for (int i = k + 1; i < _dim; i++)
                    {
                        float v = x[baseIndex + order[i] * _inner];
                        if (v > bestValue || (v == bestValue && order[i] > order[best])) { best = i; bestValue = v; }
                    }
                    (order[k], order[best]) = (order[best], order[k]);
                    int index = order[k];
                    if (_hasAxis)
                        y[(n * _topK + k) * _inner + s] = _outMaxVal ? bestValue : index;
                    else if (_outMaxVal)
                    {
                        y[n * 2 * _topK + k] = index;
                        y[n * 2 * _topK + _topK + k] = bestValue;
                    }
                    else y[n * _topK + k] = index;
                }
            }
    }

    // One work-item per searched line (TopK). Per item without an axis the top holds the k
    // indices, then (out_max_val) the k values; along an axis it holds one or the other.
    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        backend.TopK(_outer, _dim, _inner, _topK, bottom[0].DataOn(backend), top[0].MutableDataOn(backend),
            writeIndices: !_hasAxis || !_outMaxVal, writeValues: _outMaxVal);

    // No gradient: the same check as the host's (an error when one is asked for).
    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom) =>
        Backward(top, propagateDown, bottom);
}
