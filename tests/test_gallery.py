import re

from restora.degrade import OPERATORS
from restora.report.gallery import write_gallery


def test_gallery_shows_every_operator_with_label_maps(tmp_path, small):
    page = write_gallery(small, tmp_path / "g", progress=False)
    html = page.read_text()
    for name in OPERATORS:
        assert f"<th>{name}<br>" in html
        assert (tmp_path / "g" / "img" / f"{name}_label.png").is_file()
    srcs = re.findall(r'src="([^"]+)"', html)
    assert len(srcs) == 5 * len(OPERATORS)
    assert all((tmp_path / "g" / s).is_file() for s in srcs)
