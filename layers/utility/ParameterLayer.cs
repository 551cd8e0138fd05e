using System.Numerics.Tensors;
using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Exposes one learnable blob, shaped by parameter_param.shape and zero-filled (weights come from
/// a file or a solver), as its only top. The top shares the blob's data; backward adds the top's
/// gradient to the blob's, so repeated backward passes accumulate.
/// </summary>
[LayerType("Parameter")]
public sealed class ParameterLayer : Layer
{
    public ParameterLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => 0;
    public override int ExactTops => 1;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var shape = Param.ParameterParam?.Shape ?? throw Error("parameter_param.shape is required");
        var dims = new int[shape.Dim.Count];
        for (int i = 0; i < dims.Length; i++)
        {
            if (shape.Dim[i] < 0 || shape.Dim[i] > int.MaxValue) throw Error($"parameter_param.shape dim {i} is {shape.Dim[i]}");
            dims[i] = (int)shape.Dim[i];
        }
        SetUpWeights(dims, null, 0, null);
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        top[0].ReshapeLike(Blobs[0]);
        top[0].ShareData(Blobs[0]);
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) { }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (ParamPropagateDown.Length == 0 || !ParamPropagateDown[0]) return;
        Span<float> d = Blobs[0].Diff;
        TensorPrimitives.Add(d, top[0].Diff, d);
    }

    // The top shares the blob's data (and its device buffer); backward adds on the device.
    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        Blobs[0].DataOn(backend);

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (ParamPropagateDown.Length == 0 || !ParamPropagateDown[0]) return;
        var dy = top[0].DiffOn(backend);
        var d = Blobs[0].MutableDiffOn(backend);
        backend.Add(d, dy, d);
    }
}
