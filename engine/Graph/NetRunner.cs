using Engine.Core;

namespace Engine.Graph;

/// <summary>Gradients from <see cref="Net.Backward(string)"/>: one per input blob, and per parameter blob of each layer.</summary>
public sealed record NetGradients(
    IReadOnlyDictionary<string, (int[] shape, float[] data)> Inputs,
    IReadOnlyDictionary<string, IReadOnlyList<(int[] shape, float[] data)>> Params);

/// <summary>
/// Arrays in, arrays out: what pycaffe's <c>net.forward(data=x)</c> and <c>net.backward(prob=1)</c> are
/// to Caffe.
/// <code>
/// var net = Net.FromFile("deploy.prototxt", Phase.Test);
/// net.CopyTrainedLayersFrom("lenet.caffemodel");
/// var outputs = net.Forward(new Dictionary&lt;string, (int[], float[])&gt; { ["data"] = ([1, 1, 28, 28], pixels) });
/// var (shape, prob) = outputs["prob"];
/// var grads = net.Backward("prob");   // d sum(prob) / d data, d sum(prob) / d weights
/// </code>
/// </summary>
public sealed partial class Net
{
    /// <summary>
    /// Copy each input array into the Input blob of that name (its shape reshapes the blob and then the
    /// net; the rank must stay the same), run forward, and return copies of the requested blobs
    /// (default: <see cref="Outputs"/>).
    /// </summary>
    public IReadOnlyDictionary<string, (int[] shape, float[] data)> Forward(
        IReadOnlyDictionary<string, (int[] shape, float[] data)> inputs, IEnumerable<string>? blobs = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var wanted = blobs?.ToList() ?? _outputs.Select(b => b.Name).ToList();
        foreach (var name in wanted)
            if (!_blobsByName.ContainsKey(name))
                throw new EngineException($"net \"{Name}\": no blob named \"{name}\"; blobs: {string.Join(", ", _blobs.Select(b => b.Name))}");
        SetInputs(inputs);
        Forward();
        var result = new Dictionary<string, (int[] shape, float[] data)>(StringComparer.Ordinal);
        foreach (var name in wanted)
        {
            var blob = _blobsByName[name];
            result[name] = (blob.Shape.ToArray(), blob.ConstData.ToArray());
        }
        return result;
    }

    /// <summary>Reshape the named Input blobs to the arrays' shapes, reshape the net, copy the data in.</summary>
    public void SetInputs(IReadOnlyDictionary<string, (int[] shape, float[] data)> inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        foreach (var (name, (shape, data)) in inputs)
        {
            var blob = _inputs.FirstOrDefault(b => b.Name == name)
                ?? throw new EngineException($"net \"{Name}\": \"{name}\" is not an input blob; inputs: {(_inputs.Count == 0 ? "(none: the net has no Input layer)" : string.Join(", ", _inputs.Select(b => b.Name)))}");
            if (shape.Length != blob.NumAxes)
                throw new EngineException($"net \"{Name}\": input \"{name}\" has shape ({string.Join(" ", shape)}), {shape.Length}-D, but the blob is {blob.NumAxes}-D ({blob.ShapeString})");
            long count = shape.Aggregate(1L, (a, d) => a * d);
            if (count != data.Length)
                throw new EngineException($"net \"{Name}\": input \"{name}\" has shape ({string.Join(" ", shape)}) = {count} values but {data.Length} were given");
        }
        bool reshape = false;
        foreach (var (name, (shape, _)) in inputs)
        {
            var blob = _blobsByName[name];
            if (blob.ShapeEquals(shape)) continue;
            blob.Reshape(shape);
            reshape = true;
        }
        if (reshape) Reshape();
        foreach (var (name, (_, data)) in inputs) data.CopyTo(_blobsByName[name].Data);
    }

    /// <summary>
    /// Back-propagate from blob <paramref name="lossBlob"/> after a forward pass: its gradient is set
    /// to 1 (every other blob's to 0), and every layer from the one that produced it down to the
    /// first computes gradients, as with force_backward (propagate_down: false and label bottoms are
    /// still respected). Returns the gradient of sum(lossBlob) with respect to each input blob and
    /// each learnable parameter blob, lr_mult 0 included (statistics such as BatchNorm's stay 0),
    /// keyed by <see cref="LayerKey"/> (the layer name; "name#2" for a repeated name). Parameter
    /// gradients are cleared first.
    /// </summary>
    public NetGradients Backward(string lossBlob)
    {
        var loss = _blobsByName.TryGetValue(lossBlob, out var lb) ? lb
            : throw new EngineException($"net \"{Name}\": no blob named \"{lossBlob}\" to back-propagate from; blobs: {string.Join(", ", _blobs.Select(b => b.Name))}");
        int producer = ProducerOf(loss);
        foreach (var b in _blobs) b.ClearDiff();
        foreach (var layer in _layers)
            foreach (var p in layer.Blobs) p.ClearDiff();
        loss.Diff.Fill(1f);

        var saved = _layers.Select(l => l.ParamPropagateDown).ToArray();
        try
        {
            for (int i = producer; i >= 0; i--)
            {
                var layer = _layers[i];
                var lp = layer.Param;
                var down = new bool[_bottoms[i].Length];
                for (int b = 0; b < down.Length; b++)
                    down[b] = layer.CanBackward(b) && layer.AllowForceBackward(b) && (lp.PropagateDown.Count == 0 || lp.PropagateDown[b]);
                var paramDown = new bool[layer.Blobs.Count];
                for (int p = 0; p < paramDown.Length; p++) paramDown[p] = layer.IsLearnable(p);
                layer.ParamPropagateDown = paramDown;
                if (!down.Any(d => d) && !paramDown.Any(d => d)) continue;
                if (Backend != null && layer.RunsOnDevice) layer.BackwardOn(Backend, _tops[i], down, _bottoms[i]);
                else layer.Backward(_tops[i], down, _bottoms[i]);
                if (DebugInfo) NetDebugInfo.Backward(this, i);
            }
        }
        finally
        {
            for (int i = 0; i < _layers.Count; i++) _layers[i].ParamPropagateDown = saved[i];
        }

        var inputs = new Dictionary<string, (int[] shape, float[] data)>(StringComparer.Ordinal);
        foreach (var b in _inputs) inputs[b.Name] = (b.Shape.ToArray(), b.Diff.ToArray());
        var grads = new Dictionary<string, IReadOnlyList<(int[] shape, float[] data)>>(StringComparer.Ordinal);
        for (int i = 0; i < _layers.Count; i++)
            if (_layers[i].Blobs.Count > 0)
                grads[LayerKey(i)] = _layers[i].Blobs.Select(p => (p.Shape.ToArray(), p.Diff.ToArray())).ToList();
        return new NetGradients(inputs, grads);
    }

    /// <summary>Forward with <paramref name="inputs"/>, then <see cref="Backward(string)"/> from <paramref name="lossBlob"/>.</summary>
    public NetGradients Backward(IReadOnlyDictionary<string, (int[] shape, float[] data)> inputs, string lossBlob)
    {
        Forward(inputs, [lossBlob]);
        return Backward(lossBlob);
    }
}
