using Engine.Tests.OpenCL;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// Closes the shared OpenCL device once every test has run. It sits in the root namespace: NUnit
/// runs a set-up fixture's tear-down when its namespace is done, and device tests live in many
/// namespaces (layers, solvers, core).
/// </summary>
[SetUpFixture]
public sealed class OpenCLTestsSetUp
{
    [OneTimeTearDown]
    public void CloseDevice() => OpenCLTestDevice.Close();
}
