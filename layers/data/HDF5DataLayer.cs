using System.Buffers.Binary;
using Engine.Core;
using Engine.IO;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Caffe's HDF5Data layer: hdf5_data_param.source is a text file naming HDF5 files, one per
/// line (paths as given, relative to the current directory, as in Caffe). Each top is read
/// from the root dataset of the same name in each file (float, double or integer; converted to
/// float); axis 0 counts records and must be the same for every top of a file. A top is
/// batch_size × (the dataset's other axes). Batches run through the rows of one file, then
/// the next, and wrap around to the first file. With shuffle, the file order is shuffled at
/// set-up and after each pass over the files, and the rows of each file every time it is
/// loaded (or passed through again), as Caffe does (in either phase). Files are loaded whole,
/// one at a time. <see cref="SaveState"/> carries the position and both orders.
/// </summary>
[LayerType("HDF5Data")]
public sealed class HDF5DataLayer(LayerParameter param) : Layer(param)
{
    private const uint StateMagic = 0x31354448; // "HD51", little-endian
    private const int StateVersion = 1;

    private readonly List<(string path, int line)> _files = [];
    private string _source = "";
    private int _batch;
    private bool _shuffle;
    private string[] _names = [];
    private int[][] _rowShapes = [];   // each top's shape after axis 0
    private int[] _rowSizes = [];
    private float[][] _data = [];      // the current file's datasets
    private int _rows;                 // rows in the current file
    private int[] _fileOrder = [];
    private int[] _rowOrder = [];
    private int _file = -1;            // position in _fileOrder of the loaded file
    private int _row;

    public override int ExactBottoms => 0;
    public override int MinTops => 1;

    /// <summary>The files named by the list, in list order.</summary>
    public IReadOnlyList<string> Files => _files.Select(f => f.path).ToList();

    /// <summary>Index into <see cref="Files"/> of the file being read.</summary>
    public int CurrentFile => _fileOrder[_file];

    /// <summary>Next row of the current file's order.</summary>
    public int CurrentRow => _row;

    public override bool CanBackward(int bottomIndex) => false;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.Hdf5DataParam ?? throw Error("hdf5_data_param is missing; give source (a text file listing .h5 files) and batch_size");
        if (!p.HasSource || p.Source.Length == 0) throw Error("hdf5_data_param.source is missing; give a text file listing .h5 files, one per line");
        if (p.BatchSize == 0 || p.BatchSize > int.MaxValue) throw Error($"hdf5_data_param.batch_size {p.BatchSize} must be positive");
        if (!Hdf5.IsAvailable) throw Error($"reading HDF5 files needs the HDF5 library {Hdf5.LibraryName} (Debian: apt-get install {Hdf5.DebianPackage})");
        _batch = (int)p.BatchSize;
        _source = p.Source;
        _shuffle = p.Shuffle;
        _names = Param.Top.ToArray();
        _data = new float[_names.Length][];
        for (int i = 0; i < _data.Length; i++) _data[i] = [];
        ReadList();

        _fileOrder = Enumerable.Range(0, _files.Count).ToArray();
        if (_shuffle) Rng.Shuffle<int>(_fileOrder);
        _file = 0;
        _rowShapes = [];
        Load(0);
        _row = 0;
        Log.Info($"HDF5Data layer \"{Name}\": {_files.Count} file(s) from {_source}, batch {_batch}, tops " +
                 string.Join(", ", _names.Select((n, i) => $"{n} ({(_rowShapes[i].Length == 0 ? "one value" : string.Join("×", _rowShapes[i]))} per row)")) +
                 (_shuffle ? ", shuffled" : ""), "hdf5_data_layer.cpp");
    }

    private void ReadList()
    {
        string[] text;
        try { text = File.ReadAllLines(_source); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Error(File.Exists(_source) || Directory.Exists(_source)
                ? $"cannot read the list file \"{_source}\": {e.Message}"
                : $"the list file \"{_source}\" does not exist{InputFile.WhereRelative(_source)}");
        }
        _files.Clear();
        for (int i = 0; i < text.Length; i++)
        {
            string line = text[i].Trim();
            if (line.Length == 0) continue;
            // Caught here rather than when the file's turn comes, possibly hours into training.
            if (!File.Exists(line))
                throw Error($"list file \"{_source}\" line {i + 1}: \"{line}\" does not exist{InputFile.WhereRelative(line)}");
            _files.Add((line, i + 1));
        }
        if (_files.Count == 0) throw Error($"the list file \"{_source}\" names no HDF5 files");
    }

    // Load file _fileOrder[position] into _data, checking its datasets against the tops.
    private void Load(int position)
    {
        var (path, line) = _files[_fileOrder[position]];
        string where = $"list file \"{_source}\" line {line}: \"{path}\"";
        if (!File.Exists(path))
            throw Error($"{where} does not exist{InputFile.WhereRelative(path)}");
        bool first = _rowShapes.Length == 0;
        var shapes = new int[_names.Length][];
        int rows = -1;
        try
        {
            using var file = Hdf5File.OpenRead(path);
            for (int t = 0; t < _names.Length; t++)
            {
                if (!file.Has(_names[t]))
                    throw Error($"{where} has no dataset \"{_names[t]}\" for top \"{_names[t]}\" (each top is read from the dataset of its name)");
                var shape = file.Read(_names[t], ref _data[t]);
                if (shape.Length == 0) throw Error($"{where}: dataset \"{_names[t]}\" is a scalar; axis 0 must count the records");
                if (t == 0) rows = shape[0];
                else if (shape[0] != rows)
                    throw Error($"{where}: dataset \"{_names[t]}\" has {shape[0]} rows but \"{_names[0]}\" has {rows}; every top's dataset needs the same number of rows");
                shapes[t] = shape[1..];
                if (!first && !shapes[t].SequenceEqual(_rowShapes[t]))
                    throw Error($"{where}: dataset \"{_names[t]}\" rows are ({string.Join(", ", shapes[t])}) but the first file's are ({string.Join(", ", _rowShapes[t])})");
            }
        }
        catch (EngineException e) when (!e.Message.StartsWith("layer ", StringComparison.Ordinal))
        {
            throw Error($"list file \"{_source}\" line {line}: {e.Message}");
        }
        if (rows <= 0) throw Error($"{where} holds no rows");
        if (first)
        {
            _rowShapes = shapes;
            _rowSizes = shapes.Select(s => s.Aggregate(1, (a, b) => checked(a * b))).ToArray();
        }
        _rows = rows;
        if (_rowOrder.Length != rows) _rowOrder = new int[rows];
        for (int i = 0; i < rows; i++) _rowOrder[i] = i;
        if (_shuffle) Rng.Shuffle<int>(_rowOrder);
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        for (int t = 0; t < top.Count; t++) top[t].Reshape([_batch, .. _rowShapes[t]]);
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        for (int i = 0; i < _batch; i++)
        {
            int r = _rowOrder[_row];
            for (int t = 0; t < top.Count; t++)
            {
                int size = _rowSizes[t];
                _data[t].AsSpan(r * size, size).CopyTo(top[t].Data.Slice(i * size, size));
            }
            Advance();
        }
    }

    // Caffe's Next(): past the last row, load the next file (wrapping, with a fresh file order when
    // shuffling), and with shuffle a fresh row order.
    private void Advance()
    {
        if (++_row < _rows) return;
        if (_files.Count > 1)
        {
            if (++_file == _files.Count)
            {
                _file = 0;
                if (_shuffle) Rng.Shuffle<int>(_fileOrder);
            }
            Load(_file);
        }
        else if (_shuffle) Rng.Shuffle<int>(_rowOrder);
        _row = 0;
    }

    /// <summary>The file order and position, the row order and row, and the generator.</summary>
    public override byte[] SaveState()
    {
        int nf = _fileOrder.Length, nr = _rowOrder.Length;
        var s = new byte[24 + 4 * nf + 4 * nr + 32];
        var span = s.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(span, StateMagic);
        BinaryPrimitives.WriteInt32LittleEndian(span[4..], StateVersion);
        BinaryPrimitives.WriteInt32LittleEndian(span[8..], nf);
        BinaryPrimitives.WriteInt32LittleEndian(span[12..], _file);
        BinaryPrimitives.WriteInt32LittleEndian(span[16..], nr);
        BinaryPrimitives.WriteInt32LittleEndian(span[20..], _row);
        for (int i = 0; i < nf; i++) BinaryPrimitives.WriteInt32LittleEndian(span[(24 + 4 * i)..], _fileOrder[i]);
        for (int i = 0; i < nr; i++) BinaryPrimitives.WriteInt32LittleEndian(span[(24 + 4 * nf + 4 * i)..], _rowOrder[i]);
        Rng.SaveState().CopyTo(span[(24 + 4 * nf + 4 * nr)..]);
        return s;
    }

    public override void LoadState(byte[] state)
    {
        var span = state.AsSpan();
        if (span.Length < 24 + 32 || BinaryPrimitives.ReadUInt32LittleEndian(span) != StateMagic)
            throw Error($"the saved state ({state.Length} bytes) is not an HDF5Data layer's state; was the snapshot taken with another net?");
        int version = BinaryPrimitives.ReadInt32LittleEndian(span[4..]);
        if (version != StateVersion) throw Error($"the saved state has version {version}; this build reads version {StateVersion}");
        int nf = BinaryPrimitives.ReadInt32LittleEndian(span[8..]);
        int file = BinaryPrimitives.ReadInt32LittleEndian(span[12..]);
        int nr = BinaryPrimitives.ReadInt32LittleEndian(span[16..]);
        int row = BinaryPrimitives.ReadInt32LittleEndian(span[20..]);
        if (nf != _files.Count)
            throw Error($"the saved state is for a list of {nf} files, but {_source} names {_files.Count}");
        if (file < 0 || file >= nf || nr <= 0 || row < 0 || row >= nr || span.Length != 24 + 4L * nf + 4L * nr + 32)
            throw Error($"the saved state is damaged (file {file} of {nf}, row {row} of {nr}, {state.Length} bytes)");
        var fileOrder = ReadPermutation(span[24..], nf, "file");
        var rowOrder = ReadPermutation(span[(24 + 4 * nf)..], nr, "row");
        var saved = _fileOrder;
        _fileOrder = fileOrder;
        try { Load(file); }
        catch { _fileOrder = saved; throw; }
        if (_rows != nr)
            throw Error($"the saved state is for {nr} rows in \"{_files[fileOrder[file]].path}\", but the file now has {_rows}");
        rowOrder.CopyTo(_rowOrder, 0);
        _file = file;
        _row = row;
        Rng.LoadState(span[(24 + 4 * nf + 4 * nr)..]);
    }

    private int[] ReadPermutation(ReadOnlySpan<byte> span, int n, string what)
    {
        var seen = new bool[n];
        var order = new int[n];
        for (int i = 0; i < n; i++)
        {
            int r = BinaryPrimitives.ReadInt32LittleEndian(span[(4 * i)..]);
            if ((uint)r >= (uint)n || seen[r])
                throw Error($"the saved state's {what} order is not a permutation; the snapshot is damaged");
            seen[r] = true;
            order[i] = r;
        }
        return order;
    }
}
