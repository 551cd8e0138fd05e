using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Marvin's "Activation" layer: activation_param.mode picks ReLU (default), Sigmoid or TanH; the
/// work is done by the matching layer, which keeps this layer's name for its errors.
/// </summary>
[LayerType("Activation")]
public sealed class ActivationLayer : NeuronLayer
{
    private readonly NeuronLayer _inner;

    public ActivationLayer(LayerParameter param) : base(param)
    {
        var mode = param.ActivationParam?.Mode ?? ActivationParameter.Types.Mode.ReLu;
        _inner = mode switch
        {
            ActivationParameter.Types.Mode.ReLu => new ReLULayer(param),
            ActivationParameter.Types.Mode.Sigmoid => new SigmoidLayer(param),
            ActivationParameter.Types.Mode.TanH => new TanHLayer(param),
            _ => throw Error($"unknown activation_param.mode {(int)mode}; modes: ReLU, Sigmoid, TanH"),
        };
    }

    /// <summary>The layer doing the work (ReLU, Sigmoid or TanH).</summary>
    public Layer Inner => _inner;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) => _inner.LayerSetUp(bottom, top);

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) => _inner.Reshape(bottom, top);

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) => _inner.Forward(bottom, top);

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom) =>
        _inner.Backward(top, propagateDown, bottom);

    // The inner layer decides whether (and how) this configuration runs on a device.
    public override bool RunsOnDevice => _inner.RunsOnDevice;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        _inner.ForwardOn(backend, bottom, top);

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom) =>
        _inner.BackwardOn(backend, top, propagateDown, bottom);
}
