import restora


def test_public_surface_is_exact():
    assert sorted(restora.__all__) == ["RestoraError", "__version__", "assess", "degrade",
                                       "restore"]
    for name in restora.__all__:
        assert hasattr(restora, name)
    assert callable(restora.restore) and callable(restora.assess)
