import restora


def test_public_surface_is_exact():
    assert sorted(restora.__all__) == ["RestoraError", "__version__", "degrade"]
    for name in restora.__all__:
        assert hasattr(restora, name)
