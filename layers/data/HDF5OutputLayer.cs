using Engine.Core;
using Engine.IO;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Caffe's HDF5Output layer: bottoms data and label (same count along axis 0), no tops. Each
/// forward pass appends the batch and writes hdf5_output_param.file_name with two float
/// datasets, "data" and "label", holding every row seen since the net was built (after one
/// batch, exactly Caffe's file; Caffe itself cannot write a second batch into the same file).
/// The file is written atomically: a temporary file beside it, flushed, then renamed over it,
/// so a reader never sees half a file.
/// </summary>
[LayerType("HDF5Output")]
public sealed class HDF5OutputLayer(LayerParameter param) : Layer(param)
{
    private string _fileName = "";
    private float[] _data = [], _label = [];
    private long _dataCount, _labelCount;
    private int _rows;
    private int[] _dataRow = [], _labelRow = [];

    public override int ExactBottoms => 2;
    public override int ExactTops => 0;

    public override bool CanBackward(int bottomIndex) => false;

    /// <summary>Rows written so far.</summary>
    public int Rows => _rows;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.Hdf5OutputParam ?? throw Error("hdf5_output_param is missing; give file_name");
        if (!p.HasFileName || p.FileName.Length == 0) throw Error("hdf5_output_param.file_name is missing");
        if (!Hdf5.IsAvailable) throw Error($"writing HDF5 files needs the HDF5 library {Hdf5.LibraryName} (Debian: apt-get install {Hdf5.DebianPackage})");
        _fileName = p.FileName;
        string? dir = Path.GetDirectoryName(Path.GetFullPath(_fileName));
        if (dir != null && !Directory.Exists(dir)) throw Error($"hdf5_output_param.file_name \"{_fileName}\": the folder {dir} does not exist");
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var (data, label) = (bottom[0], bottom[1]);
        if (data.NumAxes == 0 || label.NumAxes == 0 || data.Dim(0) != label.Dim(0))
            throw Error($"bottoms \"{data.Name}\" {data.ShapeString} and \"{label.Name}\" {label.ShapeString} must have the same count along axis 0");
        int[] dataRow = data.Shape.Skip(1).ToArray(), labelRow = label.Shape.Skip(1).ToArray();
        if (_rows > 0 && (!dataRow.SequenceEqual(_dataRow) || !labelRow.SequenceEqual(_labelRow)))
            throw Error($"bottom rows changed shape to {data.ShapeString} and {label.ShapeString} after rows of ({string.Join(", ", _dataRow)}) and ({string.Join(", ", _labelRow)}) were written");
        _dataRow = dataRow;
        _labelRow = labelRow;
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        Append(ref _data, ref _dataCount, bottom[0].Data);
        Append(ref _label, ref _labelCount, bottom[1].Data);
        _rows += bottom[0].Dim(0);
        Write();
    }

    private static void Append(ref float[] buffer, ref long count, ReadOnlySpan<float> values)
    {
        long need = count + values.Length;
        if (need > Array.MaxLength) throw new EngineException("HDF5Output: more rows than one array can hold");
        if (need > buffer.Length) Array.Resize(ref buffer, (int)Math.Min(Array.MaxLength, Math.Max(need, 2L * buffer.Length)));
        values.CopyTo(buffer.AsSpan((int)count));
        count = need;
    }

    private void Write()
    {
        string full = Path.GetFullPath(_fileName);
        string tmp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            using (var file = Hdf5File.Create(tmp))
            {
                file.Write("data", [_rows, .. _dataRow], _data.AsSpan(0, (int)_dataCount));
                file.Write("label", [_rows, .. _labelRow], _label.AsSpan(0, (int)_labelCount));
                file.Flush();
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch (Exception e) when (e is EngineException or IOException or UnauthorizedAccessException)
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw Error($"writing \"{_fileName}\" failed: {e.Message}");
        }
    }
}
