from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Team
from app.teams.schemas import TeamIn


async def put_team(session: AsyncSession, *, slug: str, data: TeamIn) -> Team:
    """Teams exist implicitly (sources and reps name them); this sets how one routes."""
    team = await session.get(Team, slug)
    if team is None:
        team = Team(slug=slug)
        session.add(team)
    team.routing, team.ring_group_size = data.routing, data.ring_group_size
    await session.flush()
    await session.refresh(team)
    return team


async def list_teams(session: AsyncSession) -> list[Team]:
    return list(await session.scalars(select(Team).order_by(Team.slug)))
