using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Caffe's Input layer: tops the caller fills (deploy nets). input_param.shape gives one shape
/// for every top, one per top, or none (the caller shapes the tops). Reshape leaves the tops as
/// they are, so a caller may resize an input blob and reshape the net. No forward work and no
/// backward.
/// </summary>
[LayerType("Input")]
public sealed class InputLayer(LayerParameter param) : Layer(param)
{
    public override int ExactBottoms => 0;
    public override int MinTops => 1;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var shapes = Param.InputParam?.Shape;
        int n = shapes?.Count ?? 0;
        if (n == 0) return;
        if (n != 1 && n != top.Count)
            throw Error($"input_param has {n} shapes for {top.Count} tops; give one shape for all tops, or one per top");
        for (int t = 0; t < top.Count; t++)
        {
            var shape = shapes![n == 1 ? 0 : t];
            var dims = new int[shape.Dim.Count];
            for (int i = 0; i < dims.Length; i++)
            {
                long d = shape.Dim[i];
                if (d < 0 || d > int.MaxValue)
                    throw Error($"input_param shape ({string.Join(" ", shape.Dim)}) for top \"{top[t].Name}\": dimension {i} is {d}");
                dims[i] = (int)d;
            }
            top[t].Reshape(dims);
        }
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) { }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) { }
}
