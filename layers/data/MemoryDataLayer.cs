using System.Buffers.Binary;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Caffe's MemoryData layer: batches served from arrays the program hands over with
/// <see cref="Reset"/> (the C# API's way to train or test on data it already holds).
/// memory_data_param gives batch_size, channels, height, width; the tops are data
/// (batch×channels×height×width) and, optionally, label (batch). Each forward copies the next
/// batch and wraps around at the end, as Caffe does; the number of items must be a multiple of
/// batch_size. The position is part of snapshots.
/// </summary>
[LayerType("MemoryData")]
public sealed class MemoryDataLayer(LayerParameter param) : Layer(param)
{
    private float[] _data = [];
    private float[] _labels = [];
    private int _items;
    private int _position;
    private int _batch, _channels, _height, _width;

    public override int ExactBottoms => 0;
    public override int MinTops => 1;
    public override int MaxTops => 2;

    /// <summary>Values per item (channels·height·width).</summary>
    public int ItemSize => _channels * _height * _width;

    public int BatchSize => _batch;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.MemoryDataParam ?? throw Error("memory_data_param { batch_size channels height width } is required");
        _batch = checked((int)p.BatchSize);
        _channels = checked((int)p.Channels);
        _height = checked((int)p.Height);
        _width = checked((int)p.Width);
        if (_batch <= 0 || _channels <= 0 || _height <= 0 || _width <= 0)
            throw Error($"memory_data_param needs positive batch_size, channels, height and width; got {_batch}, {_channels}, {_height}, {_width}");
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        top[0].Reshape(_batch, _channels, _height, _width);
        if (top.Count > 1) top[1].Reshape(_batch);
    }

    /// <summary>
    /// Serve these items from now on: <paramref name="data"/> holds count·ItemSize values (item
    /// after item, C order), <paramref name="labels"/> one value per item (may be empty when the
    /// layer has no label top). The arrays are used in place, not copied.
    /// </summary>
    public void Reset(float[] data, float[] labels)
    {
        if (data.Length == 0 || data.Length % ItemSize != 0)
            throw Error($"{data.Length} values do not make whole items of {_channels}×{_height}×{_width}");
        int items = data.Length / ItemSize;
        if (items % _batch != 0)
            throw Error($"{items} items is not a multiple of batch_size {_batch}");
        if (labels.Length != 0 && labels.Length != items)
            throw Error($"{labels.Length} labels for {items} items");
        _data = data;
        _labels = labels;
        _items = items;
        _position = 0;
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        if (_items == 0) throw Error("no data: call Reset(data, labels) on this layer before running the net");
        int size = ItemSize;
        _data.AsSpan(_position * size, _batch * size).CopyTo(top[0].Data);
        if (top.Count > 1)
        {
            if (_labels.Length == 0) throw Error("the layer has a label top but Reset was given no labels");
            _labels.AsSpan(_position, _batch).CopyTo(top[1].Data);
        }
        _position = (_position + _batch) % _items;
    }

    public override byte[] SaveState()
    {
        var state = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(state, _position);
        return state;
    }

    public override void LoadState(byte[] state)
    {
        if (state.Length != 4) throw Error($"snapshot state has {state.Length} bytes, expected 4");
        _position = BinaryPrimitives.ReadInt32LittleEndian(state);
    }
}
