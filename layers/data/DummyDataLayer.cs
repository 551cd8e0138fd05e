using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Caffe's DummyData layer: tops of fixed shapes filled by fillers, with no input.
/// <list type="bullet">
/// <item>Shapes: `shape` (one for all tops, or one per top), or the legacy num / channels /
/// height / width lists (each with one value for all tops, or one per top) — not both.</item>
/// <item>data_filler: none (constant 0), one for all tops, or one per top.</item>
/// </list>
/// Constant fillers fill their tops once, at set-up; every other filler refills its tops on
/// every forward from the layer's generator, as Caffe does.
/// </summary>
[LayerType("DummyData")]
public sealed class DummyDataLayer(LayerParameter param) : Layer(param)
{
    private FillerParameter[] _fillers = [];
    private bool[] _refill = [];

    public override int ExactBottoms => 0;
    public override int MinTops => 1;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.DummyDataParam ?? new DummyDataParameter();
        int n = top.Count;
        int fillers = p.DataFiller.Count;
        if (fillers != 0 && fillers != 1 && fillers != n)
            throw Error($"dummy_data_param has {fillers} data_filler entries for {n} tops; give none (constant 0), one for all tops, or one per top");
        _fillers = fillers switch
        {
            0 => [new FillerParameter { Type = "constant", Value = 0 }],
            1 => [p.DataFiller[0]],
            _ => p.DataFiller.ToArray(),
        };
        foreach (var f in _fillers)
            if (Array.IndexOf(Filler.Types, f.Type) < 0)
                throw Error($"unknown filler type \"{f.Type}\" in data_filler; expected one of {string.Join(", ", Filler.Types)}");
        _refill = _fillers.Select(f => f.Type != "constant").ToArray();

        bool legacy = p.Num.Count > 0 || p.Channels.Count > 0 || p.Height.Count > 0 || p.Width.Count > 0;
        if (legacy)
        {
            if (p.Shape.Count > 0)
                throw Error("dummy_data_param gives both shape and the legacy num/channels/height/width; use one");
            CheckLegacy("num", p.Num.Count, n);
            CheckLegacy("channels", p.Channels.Count, n);
            CheckLegacy("height", p.Height.Count, n);
            CheckLegacy("width", p.Width.Count, n);
        }
        else if (p.Shape.Count != 1 && p.Shape.Count != n)
        {
            throw Error($"dummy_data_param has {p.Shape.Count} shapes for {n} tops; give one shape for all tops, or one per top");
        }

        for (int t = 0; t < n; t++)
        {
            int[] dims;
            if (legacy)
            {
                dims = [Dim(p.Num, t, "num"), Dim(p.Channels, t, "channels"), Dim(p.Height, t, "height"), Dim(p.Width, t, "width")];
            }
            else
            {
                var shape = p.Shape[p.Shape.Count == 1 ? 0 : t];
                dims = new int[shape.Dim.Count];
                for (int i = 0; i < dims.Length; i++)
                {
                    long d = shape.Dim[i];
                    if (d < 0 || d > int.MaxValue)
                        throw Error($"dummy_data_param shape ({string.Join(" ", shape.Dim)}) for top \"{top[t].Name}\": dimension {i} is {d}");
                    dims[i] = (int)d;
                }
            }
            top[t].Reshape(dims);
        }

        // Constant tops are filled now, once; the others on every forward.
        for (int t = 0; t < n; t++)
        {
            int f = FillerIndex(t);
            if (!_refill[f]) Filler.Fill(top[t], _fillers[f], Rng, Name);
        }
    }

    private void CheckLegacy(string field, int count, int tops)
    {
        if (count != 1 && count != tops)
            throw Error($"dummy_data_param has {count} {field} values for {tops} tops; give one value for all tops, or one per top (num, channels, height and width are all needed)");
    }

    private int Dim(Google.Protobuf.Collections.RepeatedField<uint> values, int top, string field)
    {
        uint v = values[values.Count == 1 ? 0 : top];
        if (v > int.MaxValue) throw Error($"dummy_data_param {field} {v} is too large");
        return (int)v;
    }

    private int FillerIndex(int top) => _fillers.Length > 1 ? top : 0;

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) { }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        for (int t = 0; t < top.Count; t++)
        {
            int f = FillerIndex(t);
            if (_refill[f]) Filler.Fill(top[t], _fillers[f], Rng, Name);
        }
    }
}
